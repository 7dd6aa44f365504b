// Package tempdir makes imgbuild's temporary files and folders, all in one
// folder per process, <TMPDIR>/imgbuild-run-*, with an owner file that
// names the process. Each is removed by whoever made it (on success,
// failure, Ctrl-C), and the run folder with the last of them. A process
// killed outright (kill -9, the OOM killer) leaves its run folder: imgbuild
// cleanup removes the run folders whose process is gone, without a ledger
// write (and its fsync) for every temporary file.
package tempdir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/imgbuild/imgbuild/internal/ledger"
)

const (
	runPrefix = "imgbuild-run-"
	ownerFile = ".imgbuild-owner"
)

func init() {
	ledger.Register(ledger.Cleaner{
		Name: "temporary folders of killed runs",
		Find: findLeft,
	})
}

// The run folder and how many of its temporary files and folders exist.
var (
	mu    sync.Mutex
	root  string
	users int
)

// Dir makes a folder named by pattern (as os.MkdirTemp) in the run
// folder; remove deletes it and all it holds.
func Dir(pattern string) (dir string, remove func() error, err error) {
	err = use(func(root string) (err error) {
		dir, err = os.MkdirTemp(root, pattern)
		return err
	})
	if err != nil {
		return "", nil, err
	}
	return dir, release(func() error { return os.RemoveAll(dir) }), nil
}

// File makes a file named by pattern (as os.CreateTemp) in the run
// folder, open for writing; remove closes and deletes it.
func File(pattern string) (f *os.File, remove func() error, err error) {
	err = use(func(root string) (err error) {
		f, err = os.CreateTemp(root, pattern)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return f, release(func() error {
		f.Close()
		if err := os.Remove(f.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}), nil
}

// use makes the run folder if there is none, then runs create in it and
// counts what it made.
func use(create func(root string) error) error {
	mu.Lock()
	defer mu.Unlock()
	if root == "" {
		dir, err := os.MkdirTemp("", runPrefix)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
			os.RemoveAll(dir)
			return err
		}
		root = dir
	}
	if err := create(root); err != nil {
		if users == 0 {
			os.RemoveAll(root)
			root = ""
		}
		return err
	}
	users++
	return nil
}

// release returns the remove of one temporary file or folder: it runs
// rm once, and removes the run folder when nothing else is in use there.
func release(rm func() error) func() error {
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			err = rm()
			mu.Lock()
			defer mu.Unlock()
			if users--; users == 0 {
				if rerr := os.RemoveAll(root); err == nil {
					err = rerr
				}
				root = ""
			}
		})
		return err
	}
}

// findLeft returns the run folders in the temporary directory whose
// process is gone. A live process's folder is in use, even under cleanup
// --all; run folders belong to no build run, so cleanup --run leaves
// them.
func findLeft(_ context.Context, q ledger.Query) ([]ledger.Leftover, error) {
	if q.Run != "" {
		return nil, nil
	}
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), runPrefix+"*"))
	if err != nil {
		return nil, err
	}
	var out []ledger.Leftover
	for _, dir := range dirs {
		pid, ok := owner(dir)
		if !ok || alive(pid) {
			continue
		}
		out = append(out, ledger.Leftover{
			What:   fmt.Sprintf("temporary folder %s (imgbuild process %d)", dir, pid),
			Remove: func(context.Context) error { return os.RemoveAll(dir) },
		})
	}
	return out, nil
}

// owner reads the pid in a run folder's owner file.
func owner(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, ownerFile))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid, err == nil && pid > 0
}

// alive reports whether pid is a running process (this one included: its
// folder is in use). As for ledger.RunAlive, a pid that now names another
// user's process (EPERM) is a process gone: the owner file was readable,
// so the folder's imgbuild ran as this user.
func alive(pid int) bool {
	return pid == os.Getpid() || syscall.Kill(pid, 0) == nil
}
