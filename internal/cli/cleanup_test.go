package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// cleanup knows resource kinds only from the plugins' registrations: its
// help lists what the built-in builders registered.
func TestCleanupHelpListsTheKindsPluginsRegistered(t *testing.T) {
	code, out, errOut := run(t, "", "cleanup", "--help")
	if code != 0 {
		t.Fatalf("cleanup --help: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"docker build containers", "AWS resources"} {
		if !strings.Contains(out, want) {
			t.Errorf("cleanup --help does not list %q:\n%s", want, out)
		}
	}
}

// A ledger entry of a kind no plugin of this imgbuild records (an older or
// newer imgbuild wrote it) is named, left alone and kept in the ledger,
// never dropped silently.
func TestCleanupReportsAndKeepsAnUnknownKindFromAnOldLedger(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "")
	l, err := ledger.Open("")
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ledger.Entry{Run: "old-run", Action: ledger.Created, Kind: "libvirt-domain", ID: "dom-7", Region: "rack-2"}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "cleanup")
	if code != 0 {
		t.Fatalf("cleanup: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{`"libvirt-domain"`, "dom-7", "rack-2", "old-run", filepath.Join(state, "imgbuild", "resources.jsonl")} {
		if !strings.Contains(errOut, want) {
			t.Errorf("cleanup's note does not name %s:\n%s", want, errOut)
		}
	}
	if strings.Contains(out, "removed") {
		t.Errorf("cleanup claims to have removed something:\n%s", out)
	}
	// cleanup compacts the ledger when it removes something; compact it
	// anyway: the entry must survive.
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	entries, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	if out := ledger.Outstanding(entries, ""); len(out) != 1 || out[0].ID != "dom-7" {
		t.Errorf("the ledger after cleanup: %+v, want the libvirt-domain entry still outstanding", entries)
	}
}
