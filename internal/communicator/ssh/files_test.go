package ssh_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/communicator"
	sshcomm "github.com/imgbuild/imgbuild/internal/communicator/ssh"
	"github.com/imgbuild/imgbuild/internal/testenv/sshd"
)

var methods = []string{"scp", "sftp"}

// transferComms connects once per transfer method.
func transferComms(t *testing.T) map[string]*sshcomm.Comm {
	s := sshd.Start(t)
	out := map[string]*sshcomm.Comm{}
	for _, m := range methods {
		out[m] = connect(t, keyConfig(t, s, func(c *communicator.Config) { c.SSHFileTransferMethod = m }))
	}
	return out
}

// onlyReader hides every method but Read, so the size cannot be known.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestUploadWritesContentsAndMode(t *testing.T) {
	comms := transferComms(t)
	for _, m := range methods {
		c := comms[m]
		dir := remoteTempDir(t, c)
		for _, tc := range []struct {
			name   string
			reader func() io.Reader
			mode   fs.FileMode
			want   string
		}{
			{"sized reader keeps an executable mode", func() io.Reader { return strings.NewReader("#!/bin/sh\necho hi\n") }, 0o750, "750"},
			{"reader of unknown size", func() io.Reader { return onlyReader{strings.NewReader("#!/bin/sh\necho hi\n")} }, 0o600, "600"},
			{"mode 0 means 0644", func() io.Reader { return strings.NewReader("#!/bin/sh\necho hi\n") }, 0, "644"},
			{"setuid is kept", func() io.Reader { return strings.NewReader("#!/bin/sh\necho hi\n") }, 0o755 | fs.ModeSetuid, "4755"},
		} {
			t.Run(m+"/"+tc.name, func(t *testing.T) {
				dst := dir + "/" + strings.ReplaceAll(tc.name, " ", "_")
				if err := c.Upload(context.Background(), dst, tc.reader(), tc.mode); err != nil {
					t.Fatal(err)
				}
				got := mustRun(t, c, "stat -c %a "+dst+" && cat "+dst)
				want := tc.want + "\n#!/bin/sh\necho hi\n"
				if got != want {
					t.Errorf("mode and contents %q, want %q", got, want)
				}
			})
		}
		t.Run(m+"/names with spaces and quotes", func(t *testing.T) {
			sub := dir + "/a dir's name"
			mustRun(t, c, `mkdir "`+sub+`"`)
			dst := sub + "/file's name"
			if err := c.Upload(context.Background(), dst, strings.NewReader("quoted\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := c.Download(context.Background(), dst, &got); err != nil {
				t.Fatal(err)
			}
			if got.String() != "quoted\n" {
				t.Errorf("read back %q", got.String())
			}
		})
		t.Run(m+"/a path starting with a tilde is in the login's home", func(t *testing.T) {
			name := "imgbuild-home-test-" + m
			if err := c.Upload(context.Background(), "~/"+name, strings.NewReader("home\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			defer run(t, c, "rm -f ~/"+name)
			if got := mustRun(t, c, "cat $HOME/"+name); got != "home\n" {
				t.Errorf("contents %q", got)
			}
		})
		t.Run(m+"/an existing file is replaced", func(t *testing.T) {
			dst := dir + "/replaced"
			mustRun(t, c, "seq 1 10000 > "+dst)
			if err := c.Upload(context.Background(), dst, strings.NewReader("short\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if got := mustRun(t, c, "cat "+dst); got != "short\n" {
				t.Errorf("contents %q, want %q", got, "short\n")
			}
		})
		t.Run(m+"/a missing directory is an error naming the file", func(t *testing.T) {
			err := c.Upload(context.Background(), dir+"/missing/file", strings.NewReader("x"), 0o644)
			if err == nil || !strings.Contains(err.Error(), dir+"/missing/file") {
				t.Errorf("error %v, want one naming the destination", err)
			}
		})
	}
}

func TestUploadIntoAMissingFolderSaysToCreateIt(t *testing.T) {
	comms := transferComms(t)
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			c := comms[m]
			missing := remoteTempDir(t, c) + "/no/such/folder"
			err := c.Upload(context.Background(), missing+"/app.conf", strings.NewReader("x"), 0o644)
			if err == nil {
				t.Fatal("upload into a missing folder succeeded")
			}
			if !strings.Contains(err.Error(), "the folder "+missing+" does not exist on the machine") ||
				!strings.Contains(err.Error(), "mkdir -p") {
				t.Errorf("error does not say the folder is missing and how to fix it: %v", err)
			}
		})
	}
}

func TestDownloadStreamsTheFile(t *testing.T) {
	comms := transferComms(t)
	for _, m := range methods {
		c := comms[m]
		dir := remoteTempDir(t, c)
		t.Run(m, func(t *testing.T) {
			mustRun(t, c, "seq 1 200000 > "+dir+"/numbers")
			var got bytes.Buffer
			if err := c.Download(context.Background(), dir+"/numbers", &got); err != nil {
				t.Fatal(err)
			}
			want := mustRun(t, c, "cat "+dir+"/numbers")
			if got.String() != want {
				t.Errorf("downloaded %d bytes, want %d", got.Len(), len(want))
			}
		})
		t.Run(m+"/a missing file is an error naming it", func(t *testing.T) {
			err := c.Download(context.Background(), dir+"/nope", io.Discard)
			if err == nil || !strings.Contains(err.Error(), dir+"/nope") {
				t.Errorf("error %v, want one naming the file", err)
			}
		})
	}
}

// makeTree creates a local tree for directory transfers.
func makeTree(t *testing.T) string {
	root := filepath.Join(t.TempDir(), "tree")
	files := map[string]fs.FileMode{
		"a.txt":           0o644,
		"run.sh":          0o755,
		"sub/b.txt":       0o600,
		"sub/deep/c.txt":  0o640,
		"skip.log":        0o644,
		"sub/skip.log":    0o644,
		"excluded/x.txt":  0o644,
		"sub/deep/.keep":  0o644,
		"sub/empty/.keep": 0o644,
	}
	for name, mode := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("contents of "+name+"\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(root, "sub"), 0o750); err != nil {
		t.Fatal(err)
	}
	return root
}

var treeExclude = []string{"*.log", "sub/*.log", "excluded"}

// wantTree is the listing of makeTree's tree without the excluded entries,
// as "path mode" lines (find's %P %m).
var wantTree = []string{
	"a.txt 644", "run.sh 755", "sub 750", "sub/b.txt 600", "sub/deep 755",
	"sub/deep/.keep 644", "sub/deep/c.txt 640", "sub/empty 755", "sub/empty/.keep 644",
}

func listRemote(t *testing.T, c communicator.Communicator, dir string) []string {
	out := mustRun(t, c, "cd "+dir+" && find . -mindepth 1 -printf '%P %m\\n'")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sort.Strings(lines)
	return lines
}

func listLocal(t *testing.T, dir string) []string {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		lines = append(lines, rel+" "+strings.TrimPrefix(strings.TrimPrefix(
			func() string { return modeString(info.Mode()) }(), "0"), "0"))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return lines
}

func modeString(m fs.FileMode) string {
	s := ""
	v := uint32(m.Perm())
	for _, shift := range []uint{6, 3, 0} {
		s += string(rune('0' + (v>>shift)&7))
	}
	return s
}

func equalLists(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func prefixed(prefix string, lines []string) []string {
	out := []string{strings.TrimSuffix(prefix, "/") + " 755"}
	for _, l := range lines {
		out = append(out, prefix+l)
	}
	sort.Strings(out)
	return out
}

func TestUploadDirFollowsTheTrailingSlashRuleAndKeepsModes(t *testing.T) {
	comms := transferComms(t)
	src := makeTree(t)
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range methods {
		c := comms[m]
		for _, tc := range []struct {
			name string
			src  string
			want []string
		}{
			{"without a trailing slash the directory itself is copied", src, prefixed("tree/", wantTree)},
			{"with a trailing slash its contents are copied", src + "/", wantTree},
		} {
			t.Run(m+"/"+tc.name, func(t *testing.T) {
				dst := remoteTempDir(t, c) + "/dst"
				if err := c.UploadDir(context.Background(), dst, tc.src, treeExclude); err != nil {
					t.Fatal(err)
				}
				if got := listRemote(t, c, dst); !equalLists(got, tc.want) {
					t.Errorf("remote tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
				p := dst + "/sub/deep/c.txt"
				if !strings.HasSuffix(tc.src, "/") {
					p = dst + "/tree/sub/deep/c.txt"
				}
				if got := mustRun(t, c, "cat "+p); got != "contents of sub/deep/c.txt\n" {
					t.Errorf("contents %q", got)
				}
			})
		}
	}
}

func TestDownloadDirFollowsTheTrailingSlashRuleAndKeepsModes(t *testing.T) {
	comms := transferComms(t)
	src := makeTree(t)
	for _, m := range methods {
		c := comms[m]
		remote := remoteTempDir(t, c) + "/tree"
		if err := c.UploadDir(context.Background(), filepath.Dir(remote), src, nil); err != nil {
			t.Fatal(err)
		}
		mustRun(t, c, "chmod 755 "+remote)
		for _, tc := range []struct {
			name string
			src  string
			want []string
		}{
			{"without a trailing slash the directory itself is copied", remote, prefixed("tree/", wantTree)},
			{"with a trailing slash its contents are copied", remote + "/", wantTree},
		} {
			t.Run(m+"/"+tc.name, func(t *testing.T) {
				dst := filepath.Join(t.TempDir(), "dst")
				if err := c.DownloadDir(context.Background(), tc.src, dst, treeExclude); err != nil {
					t.Fatal(err)
				}
				if got := listLocal(t, dst); !equalLists(got, tc.want) {
					t.Errorf("local tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
				}
			})
		}
	}
}

// Symbolic links are followed as Packer's SSH communicator follows them: a
// link to a folder arrives as a copy of the folder, a link to a file as a
// regular file with the target's contents and mode 0644 (Packer takes the
// link's own mode, which is not a regular file's, and falls back to 0644).
func TestUploadDirCopiesTheTargetsOfSymbolicLinksAsPackerDoes(t *testing.T) {
	comms := transferComms(t)
	src := makeTree(t)
	for link, target := range map[string]string{"link.sh": "run.sh", "sublink": "sub/deep"} {
		if err := os.Symlink(target, filepath.Join(src, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			c := comms[m]
			dst := remoteTempDir(t, c) + "/dst"
			if err := c.UploadDir(context.Background(), dst, src+"/", treeExclude); err != nil {
				t.Fatal(err)
			}
			got := mustRun(t, c, "cd "+dst+" && stat -c '%n %F %a' link.sh sublink sublink/c.txt && cat link.sh")
			want := "link.sh regular file 644\nsublink directory 755\nsublink/c.txt regular file 640\ncontents of run.sh\n"
			if got != want {
				t.Errorf("remote:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
