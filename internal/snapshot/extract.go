package snapshot

import (
	"archive/tar"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"

	"github.com/trainyard/trainyard"
)

// Extract unpacks the snapshot read from r into dir, which must be empty or not exist (it is
// created). It accepts folders, regular files and symlinks only, refuses absolute names, names
// that climb out with "..", and symlinks whose target is absolute or resolves outside dir, all
// as trainyard.Invalid errors; every write goes through an os.Root, so nothing lands outside
// dir even through symlinks. It checks lim against each entry's header before unpacking it, so a
// small archive cannot expand past the limits (a trainyard.TooLarge error); folders are held to
// lim.MaxFiles too.
//
// Files get mode 0755 when the archive gives them any executable bit, else 0644. On error, dir
// may hold part of the snapshot; the caller removes it.
func Extract(r io.Reader, dir string, lim Limits) (Stats, error) {
	lim = lim.orDefault()
	if err := os.MkdirAll(dir, modeDir); err != nil {
		return Stats{}, fmt.Errorf("extract snapshot: %w", err)
	}
	switch ents, err := os.ReadDir(dir); {
	case err != nil:
		return Stats{}, fmt.Errorf("extract snapshot: %w", err)
	case len(ents) > 0:
		return Stats{}, fmt.Errorf("extract snapshot: folder %s is not empty", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return Stats{}, fmt.Errorf("extract snapshot: %w", err)
	}
	defer root.Close()
	gz, err := gzip.NewReader(r)
	if err != nil {
		return Stats{}, notSnapshot(err)
	}
	defer gz.Close()
	u := unpacker{root: root, lim: lim}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return u.st, nil
		}
		if err != nil {
			return u.st, notSnapshot(err)
		}
		if err := u.unpack(hdr, tr); err != nil {
			return u.st, err
		}
	}
}

func notSnapshot(err error) error {
	return &trainyard.Error{Code: trainyard.Invalid, Message: "snapshot is not a valid gzip-compressed tar", Err: err}
}

// unpacker writes entries under root and counts them against lim.
type unpacker struct {
	root *os.Root
	lim  Limits
	st   Stats
	dirs int
}

// unpack writes the entry hdr, whose content is read from r.
func (u *unpacker) unpack(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name := path.Clean(hdr.Name)
	if !filepath.IsLocal(name) {
		return trainyard.Errorf(trainyard.Invalid, "snapshot entry %q is outside the target folder", hdr.Name)
	}
	osName := filepath.FromSlash(name)
	switch hdr.Typeflag {
	case tar.TypeDir:
		if name == "." {
			return nil
		}
		if u.dirs++; u.dirs > u.lim.MaxFiles {
			return trainyard.Errorf(trainyard.TooLarge, "snapshot unpacks to more than the limit of %s folders", comma(int64(u.lim.MaxFiles)))
		}
		if err := u.root.MkdirAll(osName, modeDir); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		return nil
	case tar.TypeReg, tar.TypeSymlink:
		if u.st.Files++; u.st.Files > u.lim.MaxFiles {
			return trainyard.Errorf(trainyard.TooLarge, "snapshot unpacks to more than the limit of %s files", comma(int64(u.lim.MaxFiles)))
		}
		if hdr.Typeflag == tar.TypeSymlink && !linkInside(name, hdr.Linkname) {
			return trainyard.Errorf(trainyard.Invalid, "snapshot symlink %q points outside the target folder (to %q)", hdr.Name, hdr.Linkname)
		}
		if u.st.Bytes += hdr.Size; u.st.Bytes > u.lim.MaxBytes {
			return trainyard.Errorf(trainyard.TooLarge, "snapshot unpacks to more than the limit of %s", megabytes(u.lim.MaxBytes))
		}
		if d := path.Dir(name); d != "." {
			if err := u.root.MkdirAll(filepath.FromSlash(d), modeDir); err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
		}
		if hdr.Typeflag == tar.TypeSymlink {
			if err := u.root.Symlink(hdr.Linkname, osName); err != nil {
				return fmt.Errorf("extract %s: %w", name, err)
			}
			return nil
		}
		if err := u.writeFile(osName, fileMode(hdr.Mode), r); err != nil {
			return fmt.Errorf("extract %s: %w", name, err)
		}
		return nil
	default:
		return trainyard.Errorf(trainyard.Invalid, "snapshot entry %q is not a file, folder or symlink", hdr.Name)
	}
}

// writeFile creates the file name, which must not exist, with mode and content r.
func (u *unpacker) writeFile(name string, mode int64, r io.Reader) error {
	f, err := u.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if err == nil {
		err = f.Chmod(os.FileMode(mode))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
