package snapshot_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/snapshot"
)

// writeFiles creates files under dir: a name ending in "/" is an empty folder, any other name a
// file with mode 0644 holding the given content.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, name); err != nil {
		t.Fatal(err)
	}
}

// listTree describes everything under dir: "dir", "-> target" for a symlink, or the mode and
// content of a file.
func listTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		switch {
		case d.IsDir():
			got[rel] = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			got[rel] = "-> " + target
		default:
			info, err := d.Info()
			if err != nil {
				return err
			}
			content, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			got[rel] = fmt.Sprintf("%o %s", info.Mode().Perm(), content)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func mustCreate(t *testing.T, dir string, lim snapshot.Limits) ([]byte, snapshot.Stats) {
	t.Helper()
	var buf bytes.Buffer
	st, err := snapshot.Create(dir, &buf, lim)
	if err != nil {
		t.Fatalf("Create(%s) error: %v", dir, err)
	}
	return buf.Bytes(), st
}

// names lists the entry names of snapshot data, in order.
func names(t *testing.T, data []byte) []string {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var got []string
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return got
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, hdr.Name)
	}
}

// tarEntry is one entry of a hand-built archive; typ defaults to a regular file.
type tarEntry struct {
	name, link, body string
	typ              byte
	mode             int64
	size             int64 // written as zeros when set and body is empty
}

func tarball(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Size: int64(len(e.body))}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
		}
		if e.size > 0 {
			hdr.Size = e.size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		body := io.Reader(strings.NewReader(e.body))
		if e.size > 0 {
			body = io.LimitReader(zeros{}, e.size)
		}
		if _, err := io.Copy(tw, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestRoundTrip(t *testing.T) {
	base := t.TempDir()
	src := filepath.Join(base, "code")
	writeFiles(t, src, map[string]string{
		"train.py":          "print('train')",
		"run.sh":            "#!/bin/sh\necho run",
		"secret.txt":        "s",
		"pkg/util/x.py":     "x = 1",
		"pkg/util/empty.py": "",
		"empty/":            "",
	})
	if err := os.Chmod(filepath.Join(src, "run.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(src, "secret.txt"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFiles(t, base, map[string]string{"outside.txt": "not in the folder"})
	symlink(t, "pkg/util/x.py", filepath.Join(src, "latest"))
	symlink(t, "../train.py", filepath.Join(src, "pkg/main.py"))
	symlink(t, "util", filepath.Join(src, "pkg/u"))
	symlink(t, filepath.Join(src, "pkg/util/x.py"), filepath.Join(src, "pkg/abs.py")) // absolute, inside
	symlink(t, "../outside.txt", filepath.Join(src, "escape"))
	symlink(t, filepath.Join(base, "outside.txt"), filepath.Join(src, "pkg/abs-escape"))

	data, st := mustCreate(t, src, snapshot.DefaultLimits)
	wantStats := snapshot.Stats{Files: 9, Bytes: 38, Skipped: []string{"escape", "pkg/abs-escape"}}
	if diff := cmp.Diff(wantStats, st); diff != "" {
		t.Errorf("Create() stats mismatch (-want +got):\n%s", diff)
	}

	out := filepath.Join(t.TempDir(), "out") // does not exist yet
	st, err := snapshot.Extract(bytes.NewReader(data), out, snapshot.Limits{})
	if err != nil {
		t.Fatalf("Extract() error: %v", err)
	}
	if diff := cmp.Diff(snapshot.Stats{Files: 9, Bytes: 38}, st, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Extract() stats mismatch (-want +got):\n%s", diff)
	}
	want := map[string]string{
		"empty":             "dir",
		"latest":            "-> pkg/util/x.py",
		"pkg":               "dir",
		"pkg/abs.py":        "-> util/x.py",
		"pkg/main.py":       "-> ../train.py",
		"pkg/u":             "-> util",
		"pkg/util":          "dir",
		"pkg/util/empty.py": "644 ",
		"pkg/util/x.py":     "644 x = 1",
		"run.sh":            "755 #!/bin/sh\necho run",
		"secret.txt":        "644 s",
		"train.py":          "644 print('train')",
	}
	if diff := cmp.Diff(want, listTree(t, out)); diff != "" {
		t.Errorf("extracted tree mismatch (-want +got):\n%s", diff)
	}
}

func TestCreateIgnore(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name: "gitignore when no amlignore",
			files: map[string]string{
				".gitignore": "# logs\n*.log\nbuild/\n", "a.log": "", "b.txt": "",
				"build/x": "", "sub/c.log": "", "sub/build": "", // a file: "build/" matches folders only
			},
			want: []string{".gitignore", "b.txt", "sub/", "sub/build"},
		},
		{
			name: "amlignore beats gitignore",
			files: map[string]string{
				".amlignore": "data/\n", ".gitignore": "*.txt\n", "data/big.bin": "", "notes.txt": "",
			},
			want: []string{".amlignore", ".gitignore", "notes.txt"},
		},
		{
			name: "git folder always left out",
			files: map[string]string{
				".gitignore": "!.git\n", ".git/HEAD": "", ".git/objects/ab": "", "lib/.git": "", "lib/a.go": "",
			},
			want: []string{".gitignore", "lib/", "lib/a.go"},
		},
		{
			name:  "git folder left out without ignore files",
			files: map[string]string{".git/HEAD": "", "a.go": ""},
			want:  []string{"a.go"},
		},
		{
			name:  "negation re-includes a file",
			files: map[string]string{".gitignore": "*.log\n!keep.log\n", "a.log": "", "keep.log": ""},
			want:  []string{".gitignore", "keep.log"},
		},
		{
			name:  "excluded folder cannot be re-included",
			files: map[string]string{".gitignore": "data/\n!data/keep\n", "data/keep": "", "data/x": ""},
			want:  []string{".gitignore"},
		},
		{
			name:  "leading slash anchors to the root",
			files: map[string]string{".gitignore": "/top.txt\n", "top.txt": "", "sub/top.txt": ""},
			want:  []string{".gitignore", "sub/", "sub/top.txt"},
		},
		{
			name: "nested gitignore applies below its folder",
			files: map[string]string{
				"sub/.gitignore": "*.tmp\n/local\n", "a.tmp": "", "sub/b.tmp": "", "sub/local": "",
				"sub/deeper/local": "",
			},
			want: []string{"a.tmp", "sub/", "sub/.gitignore", "sub/deeper/", "sub/deeper/local"},
		},
		{
			name: "nested gitignore overrides the root one",
			files: map[string]string{
				".gitignore": "*.csv\n", "sub/.gitignore": "!small.csv\n", "big.csv": "", "sub/small.csv": "",
			},
			want: []string{".gitignore", "sub/", "sub/.gitignore", "sub/small.csv"},
		},
		{
			name: "nested gitignore not read under amlignore",
			files: map[string]string{
				".amlignore": "*.bin\n", "sub/.gitignore": "*\n", "sub/a.py": "", "sub/w.bin": "",
			},
			want: []string{".amlignore", "sub/", "sub/.gitignore", "sub/a.py"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tt.files)
			data, _ := mustCreate(t, dir, snapshot.DefaultLimits)
			if diff := cmp.Diff(tt.want, names(t, data), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("snapshot entries mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateDeterministic(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.py": "a", "sub/b.py": "b", "sub/c/d.py": "d", "e/": ""})
	first, _ := mustCreate(t, dir, snapshot.DefaultLimits)

	later := time.Now().Add(time.Hour)
	for _, name := range []string{"a.py", "sub/b.py", "sub", "e"} {
		if err := os.Chtimes(filepath.Join(dir, name), later, later); err != nil {
			t.Fatal(err)
		}
	}
	if second, _ := mustCreate(t, dir, snapshot.DefaultLimits); !bytes.Equal(first, second) {
		t.Errorf("Create() after touching mtimes gave different bytes")
	}

	writeFiles(t, dir, map[string]string{"a.py": "changed"})
	if third, _ := mustCreate(t, dir, snapshot.DefaultLimits); bytes.Equal(first, third) {
		t.Errorf("Create() after changing content gave the same bytes")
	}
}

func TestCreateLimits(t *testing.T) {
	many := func(prefix string, n int) map[string]string {
		files := map[string]string{}
		for i := range n {
			files[fmt.Sprintf("%s%04d.txt", prefix, i)] = "x"
		}
		return files
	}
	const hint = "exclude files with a .amlignore file (same syntax as .gitignore)"
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
		lim   snapshot.Limits
		want  string // error message with %q for the folder; "" for none
	}{
		{
			name: "too many files",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, many("data/raw/", 1001))
				writeFiles(t, dir, many("src/", 5))
				writeFiles(t, dir, map[string]string{"data/README": "r", "train.py": "", "tiny/a": ""})
			},
			lim: snapshot.Limits{MaxFiles: 1000},
			want: `code folder %q has 1,009 files, over the limit of 1,000: ` + hint +
				`, e.g. the largest folders: data/raw/ (1,001 files), src/ (5 files), tiny/ (1 file)`,
		},
		{
			name: "ignored files do not count",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, many("data/raw/", 20))
				writeFiles(t, dir, map[string]string{".amlignore": "data/\n"})
			},
			lim: snapshot.Limits{MaxFiles: 10},
		},
		{
			name: "too many bytes",
			setup: func(t *testing.T, dir string) {
				writeFiles(t, dir, map[string]string{
					"big/model.bin": strings.Repeat("m", 3<<19),
					"weights.pt":    strings.Repeat("w", 1<<19),
					"small/a.py":    "a",
				})
			},
			lim: snapshot.Limits{MaxBytes: 1 << 20},
			want: `code folder %q has 2 MB of files, over the limit of 1 MB: ` + hint +
				`, e.g. the largest folders and files: big/ (1.5 MB), weights.pt (0.5 MB), small/ (<0.1 MB)`,
		},
		{
			name:  "too many folders",
			setup: func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"a/b/c/": "", "d/": ""}) },
			lim:   snapshot.Limits{MaxFiles: 3},
			want:  `code folder %q has 4 folders, over the limit of 3: ` + hint + `, e.g. the largest folders: a/ (2 folders)`,
		},
		{
			name:  "at the limits",
			setup: func(t *testing.T, dir string) { writeFiles(t, dir, map[string]string{"a": "12", "b": "34"}) },
			lim:   snapshot.Limits{MaxFiles: 2, MaxBytes: 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			tt.setup(t, dir)
			var buf bytes.Buffer
			_, err := snapshot.Create(dir, &buf, tt.lim)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Create() error: %v", err)
				}
				return
			}
			if got := trainyard.ErrorCode(err); got != trainyard.TooLarge {
				t.Fatalf("Create() error code = %q (%v), want %q", got, err, trainyard.TooLarge)
			}
			if diff := cmp.Diff(fmt.Sprintf(tt.want, dir), trainyard.ErrorMessage(err)); diff != "" {
				t.Errorf("Create() error message mismatch (-want +got):\n%s", diff)
			}
			if buf.Len() != 0 {
				t.Errorf("Create() wrote %d bytes before failing, want none", buf.Len())
			}
		})
	}
}

func TestCreateInvalidFolder(t *testing.T) {
	base := t.TempDir()
	writeFiles(t, base, map[string]string{"file.txt": "x"})
	for _, dir := range []string{filepath.Join(base, "missing"), filepath.Join(base, "file.txt")} {
		_, err := snapshot.Create(dir, io.Discard, snapshot.DefaultLimits)
		if got := trainyard.ErrorCode(err); got != trainyard.Invalid {
			t.Errorf("Create(%s) error code = %q (%v), want %q", dir, got, err, trainyard.Invalid)
		}
		if !strings.Contains(trainyard.ErrorMessage(err), dir) {
			t.Errorf("Create(%s) error message %q does not name the folder", dir, trainyard.ErrorMessage(err))
		}
	}
}

func TestExtractRefuses(t *testing.T) {
	tests := []struct {
		name    string
		entries []tarEntry
		want    trainyard.Code
	}{
		{name: "parent path", entries: []tarEntry{{name: "../evil", body: "x"}}, want: trainyard.Invalid},
		{name: "parent path inside", entries: []tarEntry{{name: "a/../../evil", body: "x"}}, want: trainyard.Invalid},
		{name: "absolute path", entries: []tarEntry{{name: "/tmp/evil", body: "x"}}, want: trainyard.Invalid},
		{name: "symlink to parent", entries: []tarEntry{{name: "l", link: "../evil", typ: tar.TypeSymlink}}, want: trainyard.Invalid},
		{name: "nested symlink escaping", entries: []tarEntry{{name: "a/l", link: "../../evil", typ: tar.TypeSymlink}}, want: trainyard.Invalid},
		{name: "absolute symlink", entries: []tarEntry{{name: "l", link: "/etc", typ: tar.TypeSymlink}}, want: trainyard.Invalid},
		{
			name: "file through escaping symlink",
			entries: []tarEntry{
				{name: "l", link: "..", typ: tar.TypeSymlink},
				{name: "l/evil", body: "x"},
			},
			want: trainyard.Invalid,
		},
		{name: "hard link", entries: []tarEntry{{name: "h", link: "../evil", typ: tar.TypeLink}}, want: trainyard.Invalid},
		{name: "device", entries: []tarEntry{{name: "dev", typ: tar.TypeChar}}, want: trainyard.Invalid},
		{name: "duplicate file", entries: []tarEntry{{name: "a", body: "1"}, {name: "a", body: "2"}}, want: trainyard.Internal},
		{
			name:    "too many files",
			entries: []tarEntry{{name: "a"}, {name: "b"}, {name: "c"}},
			want:    trainyard.TooLarge,
		},
		{
			name:    "too many folders",
			entries: []tarEntry{{name: "a/", typ: tar.TypeDir}, {name: "b/", typ: tar.TypeDir}, {name: "c/", typ: tar.TypeDir}},
			want:    trainyard.TooLarge,
		},
		{
			name:    "symlinks count as files",
			entries: []tarEntry{{name: "a"}, {name: "l1", link: "a", typ: tar.TypeSymlink}, {name: "l2", link: "a", typ: tar.TypeSymlink}},
			want:    trainyard.TooLarge,
		},
		{name: "too many bytes", entries: []tarEntry{{name: "zeros", size: 1<<20 + 1}}, want: trainyard.TooLarge},
	}
	lim := snapshot.Limits{MaxFiles: 2, MaxBytes: 1 << 20}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := t.TempDir()
			out := filepath.Join(base, "sub", "out")
			_, err := snapshot.Extract(bytes.NewReader(tarball(t, tt.entries...)), out, lim)
			if got := trainyard.ErrorCode(err); got != tt.want {
				t.Fatalf("Extract() error code = %q (%v), want %q", got, err, tt.want)
			}
			for _, p := range []string{filepath.Join(base, "evil"), filepath.Join(base, "sub", "evil")} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("Extract() wrote %s outside the target folder", p)
				}
			}
		})
	}
}

func TestExtractSmallArchiveBigContent(t *testing.T) {
	data := tarball(t, tarEntry{name: "zeros", size: 4 << 20})
	if len(data) > 1<<20 {
		t.Fatalf("archive is %d bytes, want a small one", len(data))
	}
	out := t.TempDir()
	_, err := snapshot.Extract(bytes.NewReader(data), out, snapshot.Limits{MaxBytes: 1 << 20})
	if got := trainyard.ErrorCode(err); got != trainyard.TooLarge {
		t.Fatalf("Extract() error code = %q (%v), want %q", got, err, trainyard.TooLarge)
	}
	if diff := cmp.Diff(map[string]string{}, listTree(t, out)); diff != "" {
		t.Errorf("Extract() wrote (-want +got):\n%s", diff)
	}
}

func TestExtractTargetFolder(t *testing.T) {
	data := tarball(t, tarEntry{name: "a.py", body: "a"})

	full := t.TempDir()
	writeFiles(t, full, map[string]string{"old": ""})
	if _, err := snapshot.Extract(bytes.NewReader(data), full, snapshot.DefaultLimits); err == nil {
		t.Errorf("Extract() into a non-empty folder succeeded, want an error")
	}

	empty := t.TempDir()
	if _, err := snapshot.Extract(bytes.NewReader(data), empty, snapshot.DefaultLimits); err != nil {
		t.Fatalf("Extract() into an empty folder error: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a.py": "644 a"}, listTree(t, empty)); diff != "" {
		t.Errorf("extracted tree mismatch (-want +got):\n%s", diff)
	}

	_, err := snapshot.Extract(strings.NewReader("not a snapshot"), t.TempDir(), snapshot.DefaultLimits)
	if got := trainyard.ErrorCode(err); got != trainyard.Invalid {
		t.Errorf("Extract(garbage) error code = %q (%v), want %q", got, err, trainyard.Invalid)
	}
}
