package ledger

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

func TestOutstandingListsOnlyResourcesNeitherDeletedNorKept(t *testing.T) {
	l, err := Open(filepath.Join(t.TempDir(), "x", "resources.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []Entry{
		{Run: "r1", Action: Created, Kind: "key-pair", ID: "k1", Region: "us-east-1"},
		{Run: "r1", Action: Created, Kind: "instance", ID: "i-1", Region: "us-east-1"},
		{Run: "r1", Action: Created, Kind: "image", ID: "ami-1", Region: "us-east-1"},
		{Run: "r2", Action: Created, Kind: "security-group", ID: "sg-2", Region: "us-west-2"},
		{Run: "r1", Action: Deleted, Kind: "key-pair", ID: "k1", Region: "us-east-1"},
		{Run: "r1", Action: Kept, Kind: "image", ID: "ami-1", Region: "us-east-1"},
	} {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	// A torn line, as after a crash mid-write, is skipped.
	f, _ := os.OpenFile(l.Path(), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"run":"r1","act`)
	f.Close()

	all, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		run  string
		want []string
	}{
		{"", []string{"i-1", "sg-2"}},
		{"r1", []string{"i-1"}},
		{"r2", []string{"sg-2"}},
		{"r3", nil},
	}
	for _, tt := range tests {
		got := Outstanding(all, tt.run)
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if len(ids) != len(tt.want) || (len(ids) > 0 && ids[0] != tt.want[0]) || (len(ids) > 1 && ids[1] != tt.want[1]) {
			t.Errorf("Outstanding(run=%q) = %v, want %v", tt.run, ids, tt.want)
		}
	}
}

func TestDefaultPathFollowsXDGStateHome(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/tmp/state-x")
	p, err := DefaultPath()
	if err != nil || p != "/tmp/state-x/imgbuild/resources.jsonl" {
		t.Fatalf("DefaultPath() = %q, %v", p, err)
	}
}

func TestRunAliveOnlyForALiveProcessOnThisHost(t *testing.T) {
	host, _ := os.Hostname()
	sleeper := exec.Command(testenv.NeedCommand(t, "sleep"), "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sleeper.Process.Kill(); sleeper.Wait() }()
	dead := exec.Command("true")
	dead.Run()
	entries := []Entry{
		{Run: "live", PID: sleeper.Process.Pid, Host: host},
		{Run: "dead", PID: dead.Process.Pid, Host: host},
		{Run: "elsewhere", PID: sleeper.Process.Pid, Host: host + "-other"},
		{Run: "old", PID: 0},
	}
	for run, want := range map[string]bool{"live": true, "dead": false, "elsewhere": false, "old": false, "unknown": false} {
		if got := RunAlive(entries, run); got != want {
			t.Errorf("RunAlive(%q) = %v, want %v", run, got, want)
		}
	}
}

func TestCompactKeepsOnlyOutstandingEntries(t *testing.T) {
	registerForTest(t, Cleaner{Name: "test aws", Kinds: []string{"instance", "key-pair", "image"}})
	registerForTest(t, Cleaner{Name: "test docker", Kinds: []string{"docker-container"}, TrackKept: []string{"docker-container"}})
	l, err := Open(filepath.Join(t.TempDir(), "resources.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	written := []Entry{
		{Run: "r", Action: Created, Kind: "instance", ID: "i-1", Region: "r1"},
		{Run: "r", Action: Created, Kind: "key-pair", ID: "k", Region: "r1"},
		{Run: "r", Action: Deleted, Kind: "instance", ID: "i-1", Region: "r1"},
		{Run: "r", Action: Created, Kind: "image", ID: "ami-1", Region: "r1"},
		{Run: "r", Action: Kept, Kind: "image", ID: "ami-1", Region: "r1"},
		{Run: "r", Action: Created, Kind: "docker-container", ID: "imgbuild-c"},
		{Run: "r", Action: Kept, Kind: "docker-container", ID: "imgbuild-c"},
	}
	entries := compacted(t, l, written...)
	// The key pair is outstanding; the kept container stays known so that
	// cleanup leaves it; the kept AMI is a result and is forgotten.
	if len(entries) != 2 || entries[0].ID != "k" || entries[1].ID != "imgbuild-c" || entries[1].Action != Kept {
		t.Fatalf("after Compact: %+v, want the key pair and the kept container", entries)
	}
	// Appends keep working on the new file.
	if err := l.Append(Entry{Run: "r", Action: Deleted, Kind: "key-pair", ID: "k", Region: "r1"}); err != nil {
		t.Fatal(err)
	}
	entries, _ = l.Read()
	if len(Outstanding(entries, "")) != 0 {
		t.Fatalf("outstanding after delete: %+v", entries)
	}
}

func TestAppendCompactsALedgerThatGrewLarge(t *testing.T) {
	old := compactAbove
	compactAbove = 4 << 10
	defer func() { compactAbove = old }()
	l, err := Open(filepath.Join(t.TempDir(), "resources.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(Entry{Run: "r0", Action: Created, Kind: "docker-container", ID: "still-there"}); err != nil {
		t.Fatal(err)
	}
	// Builds that cleaned up after themselves: nothing of them is needed.
	for i := 0; i < 100; i++ {
		id := fmt.Sprintf("gone-%d", i)
		for _, action := range []string{Created, Deleted} {
			if err := l.Append(Entry{Run: "r", Action: action, Kind: "docker-container", ID: id}); err != nil {
				t.Fatal(err)
			}
		}
	}
	st, err := os.Stat(l.Path())
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > compactAbove {
		t.Errorf("the ledger is %d bytes after 201 appends; it should have been compacted below %d", st.Size(), compactAbove)
	}
	entries, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	out := Outstanding(entries, "")
	if len(out) != 1 || out[0].ID != "still-there" {
		t.Errorf("outstanding after compaction = %v, want only still-there", out)
	}
}

// registerForTest registers c until the test ends.
func registerForTest(t *testing.T, c Cleaner) {
	Register(c)
	t.Cleanup(func() {
		cleanersMu.Lock()
		delete(cleaners, c.Name)
		cleanersMu.Unlock()
	})
}

func TestCompactKeepsKeptResourcesOfUnknownKinds(t *testing.T) {
	registerForTest(t, Cleaner{Name: "test aws", Kinds: []string{"image"}})
	l, err := Open(filepath.Join(t.TempDir(), "resources.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	// An old ledger, or one a newer imgbuild with more plugins wrote: this
	// one cannot tell whether a kept "vm" is a result or held for
	// inspection, so it keeps it (and the outstanding "disk").
	entries := compacted(t, l,
		Entry{Run: "r", Action: Created, Kind: "vm", ID: "v1"},
		Entry{Run: "r", Action: Kept, Kind: "vm", ID: "v1"},
		Entry{Run: "r", Action: Created, Kind: "disk", ID: "d1"},
		Entry{Run: "r", Action: Created, Kind: "image", ID: "ami-1"},
		Entry{Run: "r", Action: Kept, Kind: "image", ID: "ami-1"},
	)
	var got []string
	for _, e := range entries {
		got = append(got, e.Kind+"/"+e.ID+"/"+e.Action)
	}
	want := []string{"disk/d1/created", "vm/v1/kept"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after Compact: %v, want %v (the known kept image forgotten, the unknown kinds kept)", got, want)
	}
	if KnownKind("vm") || !KnownKind("image") {
		t.Errorf("KnownKind: vm %v, image %v", KnownKind("vm"), KnownKind("image"))
	}
}

// compacted appends entries to l, compacts it and returns what it holds.
func compacted(t *testing.T, l *Ledger, entries ...Entry) []Entry {
	t.Helper()
	for _, e := range entries {
		if err := l.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	out, err := l.Read()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
