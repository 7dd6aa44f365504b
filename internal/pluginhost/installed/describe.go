package installed

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// describeTimeout bounds `describe`: a plugin answers it without doing any
// work, so a binary that takes longer is not one.
const describeTimeout = 20 * time.Second

// maxDescription bounds what `describe` may print.
const maxDescription = 1 << 20

// Describe runs `path describe` and decodes what it prints.
func Describe(ctx context.Context, path string) (Description, error) {
	ctx, cancel := context.WithTimeout(ctx, describeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "describe")
	out := &limitedBuffer{max: maxDescription}
	var errOut limitedBuffer
	errOut.max = 4096
	cmd.Stdout, cmd.Stderr = out, &errOut
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return Description{}, fmt.Errorf("%s describe: no answer within %s; is it a Packer plugin?", path, describeTimeout)
	case ctx.Err() != nil:
		return Description{}, ctx.Err()
	case out.overflow:
		return Description{}, fmt.Errorf("%s describe printed more than %d bytes; it is not a Packer plugin", path, maxDescription)
	case err != nil:
		msg := bytes.TrimSpace(errOut.Bytes())
		if len(msg) > 0 {
			return Description{}, fmt.Errorf("%s describe: %w: %s; is it a Packer plugin?", path, err, msg)
		}
		return Description{}, fmt.Errorf("%s describe: %w; is it a Packer plugin?", path, err)
	}
	var d Description
	if err := json.Unmarshal(out.Bytes(), &d); err != nil || d.APIVersion == "" {
		return Description{}, fmt.Errorf("%s is not a Packer plugin: `describe` did not print a plugin description", path)
	}
	return d, nil
}

type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if b.Len()+len(p) > b.max {
		b.overflow = true
		return 0, errors.New("output too large")
	}
	return b.Buffer.Write(p)
}

// describeCache keeps what each binary described and the checksum that was
// verified for it, keyed by path, size and modification time, so that a
// run starts no plugin and hashes no binary it has seen unchanged.
type describeCache struct {
	file    string
	entries map[string]cacheEntry
	dirty   bool
}

type cacheEntry struct {
	Size     int64       `json:"size"`
	ModTime  int64       `json:"mod_time_ns"`
	Desc     Description `json:"description"`
	Verified string      `json:"verified_sha256,omitempty"`
}

func openDescribeCache(file string) *describeCache {
	c := &describeCache{file: file, entries: map[string]cacheEntry{}}
	if file == "" {
		return c
	}
	data, err := os.ReadFile(file)
	if err == nil && len(data) < 16<<20 {
		// A damaged cache is rebuilt, never trusted in part.
		if json.Unmarshal(data, &c.entries) != nil {
			c.entries = map[string]cacheEntry{}
		}
	}
	return c
}

// lookup returns the entry for path when the file is unchanged since.
func (c *describeCache) lookup(path string, fi os.FileInfo) (cacheEntry, bool) {
	e, ok := c.entries[path]
	if !ok || e.Size != fi.Size() || e.ModTime != fi.ModTime().UnixNano() {
		return cacheEntry{}, false
	}
	return e, true
}

func (c *describeCache) store(path string, fi os.FileInfo, e cacheEntry) {
	e.Size, e.ModTime = fi.Size(), fi.ModTime().UnixNano()
	c.entries[path] = e
	c.dirty = true
}

// save writes the cache when it changed; a cache that cannot be written
// only costs the next run some time.
func (c *describeCache) save() {
	if c.file == "" || !c.dirty {
		return
	}
	data, err := json.Marshal(c.entries)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.file), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.file), ".describe-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), c.file) != nil {
		os.Remove(tmp.Name())
	}
}

// DefaultDescribeCache is the describe cache's file under the user's
// cache directory ($XDG_CACHE_HOME/imgbuild or ~/.cache/imgbuild).
func DefaultDescribeCache(env []string) string {
	if x := getenv(env, "XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "imgbuild", "plugin-describe.json")
	}
	if h := getenv(env, "HOME"); h != "" {
		return filepath.Join(h, ".cache", "imgbuild", "plugin-describe.json")
	}
	return ""
}
