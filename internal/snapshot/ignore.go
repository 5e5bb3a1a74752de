package snapshot

import (
	"strings"

	ignore "github.com/sabhiram/go-gitignore"
)

// Names of the ignore files; amlignore wins when the folder's root has one.
const (
	amlignore = ".amlignore"
	gitignore = ".gitignore"
)

// rules holds the patterns of every ignore file read so far, in the order git gives them
// precedence: a later rule that matches a path overrides an earlier one.
type rules []rule

// rule is one pattern line of an ignore file in folder base ("" for the root, else "sub/dir/").
// Each line is compiled alone so that a negated line ("!keep.log") can override a match made by
// an earlier line or by a file higher up, which go-gitignore's own matcher cannot tell apart
// from no match at all.
type rule struct {
	base   string
	negate bool
	match  *ignore.GitIgnore
}

// add appends the rules of ignore file content found in folder base.
func (rs *rules) add(base string, content []byte) {
	for line := range strings.SplitSeq(string(content), "\n") {
		line = strings.Trim(strings.TrimRight(line, "\r"), " ")
		if line == "" || line[0] == '#' {
			continue
		}
		negate := line[0] == '!'
		if negate {
			line = line[1:]
		}
		*rs = append(*rs, rule{base: base, negate: negate, match: ignore.CompileIgnoreLines(line)})
	}
}

// ignored reports whether the rules exclude rel, a slash-separated path relative to the root.
// Folders are matched with a trailing slash so that patterns like "build/" apply to them only.
func (rs rules) ignored(rel string, isDir bool) bool {
	ignored := false
	for _, r := range rs {
		p, ok := strings.CutPrefix(rel, r.base)
		if !ok {
			continue
		}
		if isDir {
			p += "/"
		}
		if r.match.MatchesPath(p) {
			ignored = !r.negate
		}
	}
	return ignored
}
