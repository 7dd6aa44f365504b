// Package cache keeps build checkpoints so that a rebuild runs only the
// provisioners whose inputs changed. A checkpoint's key is a hash chain:
// the first link covers the builder type, its resolved source
// configuration and the base image's identity; each following link covers
// the previous key, one provisioner's resolved configuration and the
// content of every file it reads. Changing any input changes that key and
// every key after it.
package cache

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Key identifies a checkpoint: hex SHA-256.
type Key string

// Short is the key's first 12 characters, for display.
func (k Key) Short() string {
	if len(k) > 12 {
		return string(k[:12])
	}
	return string(k)
}

// keyVersion changes when the hashing scheme changes, so old entries are
// never mistaken for new ones.
const keyVersion = "imgbuild-cache-v2"

// Root returns the first key of a chain: an HMAC with the store's secret
// salt, so that a key, which anyone who can list the cache or the docker
// images can see, cannot be used to test guesses of the configuration it
// covers (sensitive values included). Every later key hashes this one.
func (s *Store) Root(builderType string, sourceConfig []byte, baseIdentity string) Key {
	h := hmac.New(sha256.New, s.salt)
	writeField(h, keyVersion)
	writeField(h, builderType)
	writeField(h, string(sourceConfig))
	writeField(h, baseIdentity)
	return Key(hex.EncodeToString(h.Sum(nil)))
}

// Next returns the key of the step after k: a provisioner of type typ
// whose resolved configuration is config and which reads the given local
// files and directories (content, modes and relative names are hashed;
// directories recursively, in a stable order).
func (k Key) Next(typ string, config []byte, inputs []string) (Key, error) {
	h := sha256.New()
	writeField(h, keyVersion)
	writeField(h, string(k))
	writeField(h, typ)
	writeField(h, string(config))
	for _, in := range inputs {
		if err := hashPath(h, in); err != nil {
			return "", fmt.Errorf("hashing %s for the cache key: %w", in, err)
		}
	}
	return Key(hex.EncodeToString(h.Sum(nil))), nil
}

// writeField writes a length-prefixed field, so that ("ab","c") and
// ("a","bc") hash differently.
func writeField(h hash.Hash, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	io.WriteString(h, s)
}

func hashPath(h hash.Hash, root string) error {
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		writeField(h, "file")
		return hashFile(h, root, info)
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		files = append(files, p)
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(files)
	writeField(h, "dir")
	for _, p := range files {
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		writeField(h, filepath.ToSlash(rel))
		switch {
		case info.IsDir():
			writeField(h, "d"+info.Mode().Perm().String())
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			writeField(h, "l"+target)
		default:
			if err := hashFile(h, p, info); err != nil {
				return err
			}
		}
	}
	return nil
}

// hashFile streams the file's content into h, preceded by its mode and size.
func hashFile(h hash.Hash, p string, info fs.FileInfo) error {
	writeField(h, fmt.Sprintf("f%s:%d", info.Mode().Perm(), info.Size()))
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// Digest is the "sha256:<hex>" digest of b, as content is named in the
// shared cache and in images.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}
