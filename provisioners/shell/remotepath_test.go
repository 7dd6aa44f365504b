package shell

import (
	"encoding/json"
	"regexp"
	"testing"
)

// The random script name is not one of the options: the step cache keys a
// provisioner by them, so two configurations of one block must agree.
// Drawn many times, a name from 9999 would repeat and expose any leak.
func TestTheRandomScriptNameStaysOutOfTheOptions(t *testing.T) {
	options := func() string {
		p := prepared(t, Config{Inline: []string{"true"}})
		b, err := json.Marshal(p.Config())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	first := options()
	for range 50 {
		if again := options(); again != first {
			t.Fatalf("two configurations of one block differ:\n%s\n%s", first, again)
		}
	}
	p := prepared(t, Config{Inline: []string{"true"}})
	if !regexp.MustCompile(`^/tmp/script_[0-9]+\.sh$`).MatchString(p.remotePath) {
		t.Errorf("default remote path %q, want /tmp/script_<n>.sh", p.remotePath)
	}
	named := prepared(t, Config{Inline: []string{"true"}, RemoteFolder: "/var/tmp", RemoteFile: "x.sh"})
	given := prepared(t, Config{Inline: []string{"true"}, RemotePath: "/opt/run.sh"})
	if named.remotePath != "/var/tmp/x.sh" || given.remotePath != "/opt/run.sh" {
		t.Errorf("remote paths %q and %q, want /var/tmp/x.sh and /opt/run.sh", named.remotePath, given.remotePath)
	}
}
