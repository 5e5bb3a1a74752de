package snapshot

import (
	"cmp"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/trainyard/trainyard"
)

// usage is what a folder holds, everything below it counted.
type usage struct {
	dir   bool
	files int
	dirs  int
	bytes int64
}

// tree totals a snapshot by folder, so that a limit error can name the largest folders.
type tree struct {
	use  map[string]*usage   // by folder; "" is the root, and files at the root are in too
	kids map[string][]string // folder → its subfolders; the root's files are its kids too
}

func newTree() tree {
	return tree{use: map[string]*usage{"": {dir: true}}, kids: map[string][]string{}}
}

// parent returns the folder holding rel, "" for the root.
func parent(rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return ""
}

// addDir records folder rel; its parent must have been recorded.
func (t tree) addDir(rel string) {
	t.use[rel] = &usage{dir: true}
	t.kids[parent(rel)] = append(t.kids[parent(rel)], rel)
	for d := parent(rel); ; d = parent(d) {
		t.use[d].dirs++
		if d == "" {
			return
		}
	}
}

// addFile records a file or symlink rel of size bytes; its folder must have been recorded.
func (t tree) addFile(rel string, size int64) {
	if parent(rel) == "" {
		t.use[rel] = &usage{files: 1, bytes: size}
		t.kids[""] = append(t.kids[""], rel)
	}
	for d := parent(rel); ; d = parent(d) {
		t.use[d].files++
		t.use[d].bytes += size
		if d == "" {
			return
		}
	}
}

// check returns a trainyard.TooLarge error, saying what to exclude, when the snapshot breaks lim.
func (p *plan) check(abs string, lim Limits) error {
	const hint = "exclude files with a .amlignore file (same syntax as .gitignore)"
	root := p.tree.use[""]
	files := func(u *usage) int64 { return int64(u.files) }
	dirs := func(u *usage) int64 { return int64(u.dirs) }
	bytes := func(u *usage) int64 { return u.bytes }
	switch {
	case root.files > lim.MaxFiles:
		return trainyard.Errorf(trainyard.TooLarge, "code folder %q has %s files, over the limit of %s: %s%s",
			abs, comma(int64(root.files)), comma(int64(lim.MaxFiles)), hint,
			p.tree.largest(false, files, func(n int64) string { return count(n, "file") }))
	case root.dirs > lim.MaxFiles:
		return trainyard.Errorf(trainyard.TooLarge, "code folder %q has %s folders, over the limit of %s: %s%s",
			abs, comma(int64(root.dirs)), comma(int64(lim.MaxFiles)), hint,
			p.tree.largest(false, dirs, func(n int64) string { return count(n, "folder") }))
	case root.bytes > lim.MaxBytes:
		return trainyard.Errorf(trainyard.TooLarge, "code folder %q has %s of files, over the limit of %s: %s%s",
			abs, megabytes(root.bytes), megabytes(lim.MaxBytes), hint,
			p.tree.largest(true, bytes, megabytes))
	}
	return nil
}

// largest describes the three largest entries at the root by metric, e.g.
// ", e.g. the largest folders: data/ (2,100 files), src/ (300 files)", or returns "" when there
// are none. Files at the root count too when withFiles is set. From each folder, it goes down
// into a subfolder that holds 90% or more of it, since excluding that one is the useful advice.
func (t tree) largest(withFiles bool, metric func(*usage) int64, format func(int64) string) string {
	what := "folders"
	if withFiles {
		what = "folders and files"
	}
	var top []string
	for _, k := range t.kids[""] {
		if (t.use[k].dir || withFiles) && metric(t.use[k]) > 0 {
			top = append(top, k)
		}
	}
	slices.SortStableFunc(top, func(a, b string) int { return cmp.Compare(metric(t.use[b]), metric(t.use[a])) })
	if len(top) == 0 {
		return ""
	}
	var parts []string
	for _, k := range top[:min(3, len(top))] {
		for t.use[k].dir {
			var next string
			for _, c := range t.kids[k] {
				if metric(t.use[c])*10 >= metric(t.use[k])*9 {
					next = c
				}
			}
			if next == "" {
				break
			}
			k = next
		}
		name := k
		if t.use[k].dir {
			name += "/"
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", name, format(metric(t.use[k]))))
	}
	return fmt.Sprintf(", e.g. the largest %s: %s", what, strings.Join(parts, ", "))
}

// count formats n things: "1 file", "2,100 files".
func count(n int64, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return comma(n) + " " + thing + "s"
}
