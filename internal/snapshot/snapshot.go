// Package snapshot owns the code snapshot of a job: the submitted code folder packed into a
// deterministic gzip-compressed tar (Create), and that tar unpacked safely on a node (Extract).
// Both sides enforce the same Limits, so a snapshot that Create accepts always extracts.
//
// What a snapshot holds:
//   - regular files, with their executable bit (modes are normalised to 0644 or 0755);
//   - folders, including empty ones (mode 0755);
//   - symlinks whose target stays inside the folder (absolute targets inside the folder are
//     rewritten as relative ones); symlinks pointing outside it are left out and listed in
//     Stats.Skipped, as are sockets, pipes and devices.
//
// Ignore rules: when the folder has a .amlignore file at its root, .amlignore files decide what
// is left out and .gitignore files are not read; otherwise .gitignore files do. Files of that name
// in subfolders apply below them, as in git. A .git entry is always left out, at any depth.
//
// It imports the standard library, the root trainyard package and go-gitignore only; it must not
// import store, apiserver or any other internal package.
package snapshot

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Limits bound a snapshot. A field of zero or less takes its DefaultLimits value, so a zero
// Limits is never unlimited.
type Limits struct {
	MaxFiles int   // files and symlinks; folders are held to the same number separately
	MaxBytes int64 // total size of the files, uncompressed
}

// DefaultLimits are the limits the SPEC sets for a job's code folder.
var DefaultLimits = Limits{MaxFiles: 2000, MaxBytes: 300 << 20}

// Stats describes what a snapshot holds.
type Stats struct {
	Files int   // files and symlinks
	Bytes int64 // total size of the files, uncompressed
	// Skipped lists, slash-separated and relative to the folder, what Create left out although
	// no ignore rule excludes it: symlinks pointing outside the folder and special files.
	Skipped []string
}

func (l Limits) orDefault() Limits {
	if l.MaxFiles <= 0 {
		l.MaxFiles = DefaultLimits.MaxFiles
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	return l
}

// epoch is the modification time of every entry, so equal content gives equal bytes.
var epoch = time.Unix(0, 0).UTC()

// Normalised modes written into and accepted from a snapshot.
const (
	modeFile = 0o644
	modeExec = 0o755
	modeDir  = 0o755
	modeLink = 0o777
)

// fileMode returns the normalised mode for a file whose permission bits are perm.
func fileMode(perm int64) int64 {
	if perm&0o111 != 0 {
		return modeExec
	}
	return modeFile
}

// comma formats n, which is not negative, with thousands separators: 2431 → "2,431".
func comma(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// megabytes formats n bytes in MB (2^20 bytes) to one decimal, dropping a ".0": "1,412.3 MB".
func megabytes(n int64) string {
	tenths := int64(math.Round(float64(n) * 10 / (1 << 20)))
	if tenths == 0 && n > 0 {
		return "<0.1 MB"
	}
	s := comma(tenths / 10)
	if f := tenths % 10; f != 0 {
		s += "." + strconv.FormatInt(f, 10)
	}
	return s + " MB"
}
