// Package testenv lets end-to-end tests find the real components that
// scripts/test-setup.sh provides, and decide what happens when one is
// missing: the test is skipped, unless IMGBUILD_E2E=1 (set by .ci/run),
// where a missing component fails the test instead.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Addresses of the services scripts/test-setup.sh starts.
const (
	RegistryAddr = "127.0.0.1:5000"
	MotoAddr     = "127.0.0.1:5055"
	BaseImage    = "imgbuild-base:latest"
)

// Strict reports whether missing components fail tests (IMGBUILD_E2E=1).
func Strict() bool { return os.Getenv("IMGBUILD_E2E") == "1" }

// Unavailable skips the test because of why, or fails it under
// IMGBUILD_E2E=1, where every component must be present.
func Unavailable(t testing.TB, why string) {
	t.Helper()
	if Strict() {
		t.Fatalf("IMGBUILD_E2E=1 but %s (run scripts/test-setup.sh as root)", why)
	}
	t.Skipf("skipping: %s (run scripts/test-setup.sh, or set IMGBUILD_E2E=1 to make this a failure)", why)
}

// NeedCommand returns the path of a command, or calls Unavailable.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		// sbin is often missing from non-root PATHs.
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		Unavailable(t, name+" is not installed")
	}
	return p
}

// RepoRoot returns the repository's root folder.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds bin/imgbuild once per test process and returns its path,
// for tests that run the real command line.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		// One fixed folder per user, overwritten by each test process, so
		// that test runs leave no new temporary folders behind.
		dir := filepath.Join(os.TempDir(), fmt.Sprintf("imgbuild-test-bin-%d", os.Getuid()))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		// Each test process (one per package) builds its own copy, named by
		// its pid: packages run in parallel, and one must not replace
		// another's binary while it runs. Copies of finished processes go.
		removeStaleBinaries(dir)
		binPath = filepath.Join(dir, fmt.Sprintf("imgbuild-%d", os.Getpid()))
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/imgbuild")
		cmd.Dir = RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = &buildError{out: string(out), err: err}
		}
	})
	if buildErr != nil {
		t.Fatalf("building imgbuild: %v", buildErr)
	}
	return binPath
}

// Command is the command line of the imgbuild binary Binary built. When ctx
// ends before the command does, the process gets SIGQUIT rather than
// SIGKILL: the Go runtime then prints every goroutine's stack, so the
// test's log shows where a build that hung was waiting. It is killed if it
// has not exited 10 seconds later.
func Command(ctx context.Context, t testing.TB, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.CommandContext(ctx, Binary(t), args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

// Main runs a package's tests, then deletes the binary Binary built for
// them (and the shared folder once no other package's copy is left), so a
// test run leaves no 70 MB executables in the temporary folder.
func Main(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.Remove(binPath)
		os.Remove(filepath.Dir(binPath)) // fails while other copies remain
	}
	os.Exit(code)
}

// removeStaleBinaries deletes the binaries of test processes that ended.
func removeStaleBinaries(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "imgbuild-%d", &pid); err != nil {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

type buildError struct {
	out string
	err error
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// SharedCompatDir returns ../shared/compat beside the repository, or "" when
// it is not there.
func SharedCompatDir() string {
	for _, p := range []string{
		filepath.Join(RepoRoot(), "..", "shared", "compat"),
		os.Getenv("IMGBUILD_COMPAT_DIR"),
	} {
		if p == "" {
			continue
		}
		if st, err := os.Stat(filepath.Join(p, "expected.json")); err == nil && !st.IsDir() {
			return p
		}
	}
	return ""
}
