package pluginhost

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

// Each plugin process gets a temporary folder of its own (its TMPDIR and
// PACKER_TMP_DIR), removed when the process stops. An imgbuild killed
// outright (kill -9, the machine's OOM killer) leaves the folder with
// whatever the plugin wrote in it. An owner file in it names the imgbuild
// process, so imgbuild cleanup removes the folders whose process is gone,
// without a ledger write (and its fsync) on every plugin start.
const (
	tmpDirPrefix = "imgbuild-plugin-"
	ownerFile    = ".imgbuild-owner"
)

func init() {
	ledger.Register(ledger.Cleaner{
		Name: "plugin temporary folders of killed runs",
		Find: findLeftTempDirs,
	})
}

// makeTempDir makes a plugin process's temporary folder, owned by this
// process.
func makeTempDir() (string, error) {
	dir, err := os.MkdirTemp("", tmpDirPrefix)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// findLeftTempDirs returns the plugin folders in the temporary directory
// whose imgbuild process is gone. A folder of a live process is in use,
// even under cleanup --all; folders are no run's, so cleanup --run
// leaves them. Folders without an owner file are another program's.
func findLeftTempDirs(_ context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	if q.Run != "" {
		return nil, nil
	}
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), tmpDirPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var out []ledger.Leftover
	for _, dir := range dirs {
		pid, ok := tempDirOwner(dir)
		if !ok || processAlive(pid) {
			continue
		}
		out = append(out, ledger.Leftover{
			What:   fmt.Sprintf("plugin temporary folder %s (imgbuild process %d)", dir, pid),
			Remove: func(context.Context) error { return os.RemoveAll(dir) },
		})
	}
	return out, nil
}

// tempDirOwner reads the pid in dir's owner file.
func tempDirOwner(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// processAlive reports whether pid is a running process (this one
// included: its folders are in use). As for ledger.RunAlive, a pid that
// now names another user's process (EPERM) is a process gone: the
// folder's owner file was readable, so its imgbuild ran as this user.
func processAlive(pid int) bool {
	return pid == os.Getpid() || syscall.Kill(pid, 0) == nil
}
