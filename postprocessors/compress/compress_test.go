package compress

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/plugin/plugintest"
	"github.com/imgbuild/imgbuild/internal/ui"
)

func compress(t *testing.T, cfg Config, files []string) (plugin.Artifact, error) {
	t.Helper()
	p := &PostProcessor{cfg: cfg}
	if _, err := p.Prepare(); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	env := &plugin.PostProcessEnv{UI: ui.New(ui.Options{Out: &out}).Build("qemu.vm"), SourceName: "vm", SourceType: "qemu"}
	res, keep, _, err := p.PostProcess(context.Background(), env, &plugintest.Artifact{Builder: "transcend.qemu", Name: "x", Paths: files})
	if err == nil && keep {
		t.Error("compress keeps its input only with keep_input_artifact")
	}
	return res, err
}

// decompress undoes the codec with independent readers.
func decompress(t *testing.T, codec string, r io.Reader) io.Reader {
	t.Helper()
	switch codec {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	case "lz4":
		return lz4.NewReader(r)
	}
	return r
}

func TestCompressRoundTripsEveryFormat(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.img")
	b := filepath.Join(dir, "b.txt")
	big := bytes.Repeat([]byte("imgbuild compresses this line.\n"), 100000) // several MB, several blocks
	os.WriteFile(a, big, 0o644)
	os.WriteFile(b, []byte("bee"), 0o600)
	tests := []struct {
		output, format string
		archive, codec string
	}{
		{"out.tar.gz", "", "tar", "gzip"},
		{"out.tgz", "", "tar", "gzip"},
		{"out.tar.zst", "", "tar", "zstd"},
		{"out.tar.lz4", "", "tar", "lz4"},
		{"out.tar", "", "tar", ""},
		{"out.zip", "", "zip", ""},
		{"out.gz", "", "", "gzip"},
		{"out.zst", "", "", "zstd"},
		{"out.lz4", "", "", "lz4"},
		{"out.bin", "tar.zst", "tar", "zstd"},
	}
	for _, tt := range tests {
		t.Run(tt.output+tt.format, func(t *testing.T) {
			output := filepath.Join(t.TempDir(), tt.output)
			files := []string{a, b}
			if tt.archive == "" {
				files = []string{a}
			}
			res, err := compress(t, Config{Output: output, Format: tt.format}, files)
			if err != nil {
				t.Fatal(err)
			}
			if res.Files()[0] != output {
				t.Errorf("artifact files = %v", res.Files())
			}
			got := map[string][]byte{}
			switch tt.archive {
			case "tar":
				fh, _ := os.Open(output)
				defer fh.Close()
				tr := tar.NewReader(decompress(t, tt.codec, fh))
				for {
					h, err := tr.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					got[h.Name], _ = io.ReadAll(tr)
				}
			case "zip":
				zr, err := zip.OpenReader(output)
				if err != nil {
					t.Fatal(err)
				}
				defer zr.Close()
				for _, f := range zr.File {
					rc, _ := f.Open()
					got[f.Name], _ = io.ReadAll(rc)
					rc.Close()
				}
			default:
				fh, _ := os.Open(output)
				defer fh.Close()
				got["a.img"], _ = io.ReadAll(decompress(t, tt.codec, fh))
			}
			if !bytes.Equal(got["a.img"], big) {
				t.Errorf("a.img did not round-trip (%d bytes back)", len(got["a.img"]))
			}
			if tt.archive != "" && string(got["b.txt"]) != "bee" {
				t.Errorf("b.txt = %q", got["b.txt"])
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(output), ".*part*")); len(left) > 0 {
				t.Errorf("temporary files left: %v", left)
			}
		})
	}
}

func TestCompressRejectsWhatItCannotDo(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "a")
	os.WriteFile(f, []byte("a"), 0o644)
	bad := 12
	tests := []struct {
		name  string
		cfg   Config
		files []string
		want  string
	}{
		{"unknown extension", Config{Output: filepath.Join(dir, "x.rar")}, []string{f}, "cannot tell the compression format"},
		{"level out of range", Config{Output: filepath.Join(dir, "x.gz"), CompressionLevel: &bad}, []string{f}, "between 1 and 9"},
		{"several files into one stream", Config{Output: filepath.Join(dir, "x.gz")}, []string{f, f}, "use an archive format"},
		{"no files", Config{Output: filepath.Join(dir, "x.tar.gz")}, nil, "docker-save"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compress(t, tt.cfg, tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
