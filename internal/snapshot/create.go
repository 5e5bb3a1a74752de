package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"github.com/trainyard/trainyard"
)

// Create writes the code folder dir to w as a gzip-compressed tar, leaving out what the
// ignore files exclude (see the package comment) and every .git entry.
//
// The output is deterministic: entries come in walk order (sorted by name within each folder),
// with fixed modification times, owners and normalised modes, so the same content gives the same
// bytes and its SHA-256 can name the snapshot.
//
// Create walks the whole folder and checks lim before it writes any file data, so an oversized
// folder fails fast with a trainyard.TooLarge error that names the largest folders; the Stats
// returned with that error count what the folder holds. A dir that is missing or not a folder is
// a trainyard.Invalid error.
func Create(dir string, w io.Writer, lim Limits) (Stats, error) {
	lim = lim.orDefault()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	switch fi, err := os.Stat(abs); {
	case errors.Is(err, fs.ErrNotExist):
		return Stats{}, trainyard.Errorf(trainyard.Invalid, "code folder %q does not exist", abs)
	case err != nil:
		return Stats{}, &trainyard.Error{Code: trainyard.Invalid, Message: fmt.Sprintf("cannot read code folder %q", abs), Err: err}
	case !fi.IsDir():
		return Stats{}, trainyard.Errorf(trainyard.Invalid, "code folder %q is not a folder", abs)
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return Stats{}, &trainyard.Error{Code: trainyard.Invalid, Message: fmt.Sprintf("cannot read code folder %q", abs), Err: err}
	}
	defer root.Close()

	p, err := walk(root, abs)
	if err != nil {
		return Stats{}, fmt.Errorf("snapshot %s: %w", abs, err)
	}
	st := p.stats()
	if err := p.check(abs, lim); err != nil {
		return st, err
	}
	n, err := p.write(root, w, lim)
	if err != nil {
		return st, fmt.Errorf("snapshot %s: %w", abs, err)
	}
	st.Bytes = n
	return st, nil
}

// entry is one item of the snapshot, found by walk and written by plan.write.
type entry struct {
	rel  string // slash-separated, relative to the root
	typ  byte   // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode int64
	link string // symlink target
}

// plan is what walk found: the entries to write, in order, and what they add up to.
type plan struct {
	entries []entry
	skipped []string
	tree    tree
}

// walk lists what the snapshot of root (whose absolute path is abs) will hold.
func walk(root *os.Root, abs string) (*plan, error) {
	p := &plan{tree: newTree()}
	kind := gitignore
	if _, err := root.Stat(amlignore); err == nil {
		kind = amlignore
	}
	var rs rules
	readRules := func(base string) error {
		content, err := root.ReadFile(filepath.FromSlash(path.Join(base, kind)))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read ignore file: %w", err)
		}
		if base != "" {
			base += "/"
		}
		rs.add(base, content)
		return nil
	}
	err := fs.WalkDir(root.FS(), ".", func(rel string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case rel == ".":
			return readRules("")
		case d.Name() == ".git" || rs.ignored(rel, d.IsDir()):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case d.IsDir():
			p.entries = append(p.entries, entry{rel: rel, typ: tar.TypeDir, mode: modeDir})
			p.tree.addDir(rel)
			return readRules(rel)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			p.entries = append(p.entries, entry{rel: rel, typ: tar.TypeReg, mode: fileMode(int64(info.Mode().Perm()))})
			p.tree.addFile(rel, info.Size())
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := root.Readlink(filepath.FromSlash(rel))
			if err != nil {
				return err
			}
			target, ok := insideTarget(abs, rel, target)
			if !ok {
				p.skipped = append(p.skipped, rel)
				return nil
			}
			p.entries = append(p.entries, entry{rel: rel, typ: tar.TypeSymlink, mode: modeLink, link: target})
			p.tree.addFile(rel, 0)
			return nil
		default: // socket, pipe, device
			p.skipped = append(p.skipped, rel)
			return nil
		}
	})
	return p, err
}

// insideTarget returns the target to store for symlink rel, whose target as read is target,
// and whether it stays inside the folder abs. An absolute target inside abs is made relative,
// so the link still works wherever the snapshot is unpacked.
func insideTarget(abs, rel, target string) (string, bool) {
	if filepath.IsAbs(target) {
		r, err := filepath.Rel(abs, target)
		if err != nil || !filepath.IsLocal(r) {
			return "", false
		}
		from := filepath.Join(abs, filepath.FromSlash(path.Dir(rel)))
		if target, err = filepath.Rel(from, target); err != nil {
			return "", false
		}
	}
	target = filepath.ToSlash(target)
	return target, linkInside(rel, target)
}

// linkInside reports whether a symlink named name (slash-separated, relative to the root) with
// target target resolves, read lexically, to a path inside the root.
func linkInside(name, target string) bool {
	return target != "" && !path.IsAbs(target) && filepath.IsLocal(path.Join(path.Dir(name), target))
}

// stats returns the Stats of the snapshot p describes.
func (p *plan) stats() Stats {
	root := p.tree.use[""]
	return Stats{Files: root.files, Bytes: root.bytes, Skipped: p.skipped}
}

// write writes the entries of p, read from root, to w as a gzip-compressed tar, and returns
// the total size of the files. Files are read again, so it checks lim again in case the folder
// grew since walk.
func (p *plan) write(root *os.Root, w io.Writer, lim Limits) (int64, error) {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	var total int64
	for _, e := range p.entries {
		hdr := &tar.Header{Name: e.rel, Typeflag: e.typ, Mode: e.mode, Linkname: e.link, ModTime: epoch}
		switch e.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeReg:
			n, err := writeFile(root, tw, hdr)
			if err != nil {
				return 0, err
			}
			if total += n; total > lim.MaxBytes {
				return 0, trainyard.Errorf(trainyard.TooLarge, "code folder grew past the limit of %s while being packed", megabytes(lim.MaxBytes))
			}
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return 0, fmt.Errorf("pack %s: %w", e.rel, err)
		}
	}
	if err := tw.Close(); err != nil {
		return 0, fmt.Errorf("pack: %w", err)
	}
	if err := gz.Close(); err != nil {
		return 0, fmt.Errorf("pack: %w", err)
	}
	return total, nil
}

// writeFile writes the header hdr and the content of the regular file it names, and returns
// the number of bytes written.
func writeFile(root *os.Root, tw *tar.Writer, hdr *tar.Header) (int64, error) {
	f, err := root.Open(filepath.FromSlash(hdr.Name))
	if err != nil {
		return 0, fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return 0, fmt.Errorf("pack %s: no longer a regular file", hdr.Name)
	}
	hdr.Size = fi.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return 0, fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	if _, err := io.CopyN(tw, f, hdr.Size); err != nil {
		return 0, fmt.Errorf("pack %s: %w", hdr.Name, err)
	}
	return hdr.Size, nil
}
