package manifest

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	yaml "go.yaml.in/yaml/v3"
)

// pair is one key of a mapping with its value; name is the key's text.
type pair struct {
	key, value *yaml.Node
	name       string
}

// pairs returns the entries of mapping n in document order with merge keys (<<) applied: the
// mapping's own keys win over merged ones, and earlier merge sources over later ones, as the
// YAML merge key spec says. Keys must be scalars and may not repeat.
func (d *decoder) pairs(n *yaml.Node, path string) ([]pair, error) {
	var out []pair
	var merges []*yaml.Node
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kr, err := d.enter(k)
		d.leave()
		if err != nil {
			return nil, err
		}
		if kr.Kind != yaml.ScalarNode {
			return nil, errorf(k.Line, "%s: keys must be strings, got %s", where(path), describe(kr))
		}
		if kr.ShortTag() == mergeTag {
			merges = append(merges, v)
			continue
		}
		if first, dup := seen[kr.Value]; dup {
			return nil, errorf(k.Line, "duplicate key %q (first at line %d)", join(path, kr.Value), first.Line)
		}
		seen[kr.Value] = k
		out = append(out, pair{key: k, value: v, name: kr.Value})
	}
	for _, m := range merges {
		sources, err := d.mergeSources(m, path)
		if err != nil {
			return nil, err
		}
		for _, src := range sources {
			d.depth++
			sub, err := d.pairs(src, path)
			d.depth--
			if err != nil {
				return nil, err
			}
			for _, p := range sub {
				if _, ok := seen[p.name]; !ok {
					seen[p.name] = p.key
					out = append(out, p)
				}
			}
		}
	}
	return out, nil
}

// mergeSources returns the mappings a merge key's value names: one mapping or a list of them.
func (d *decoder) mergeSources(m *yaml.Node, path string) ([]*yaml.Node, error) {
	wantMap := func(n, at *yaml.Node) error {
		return errorf(at.Line, "%s: a merge key (<<) wants a mapping or a list of mappings, got %s", where(join(path, "<<")), describe(n))
	}
	mr, err := d.enter(m)
	d.leave()
	if err != nil {
		return nil, err
	}
	switch mr.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{mr}, nil
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range mr.Content {
			cr, err := d.enter(c)
			d.leave()
			if err != nil {
				return nil, err
			}
			if cr.Kind != yaml.MappingNode {
				return nil, wantMap(cr, c)
			}
			out = append(out, cr)
		}
		return out, nil
	}
	return nil, wantMap(mr, m)
}

// integer converts an !!int scalar, or an !!float one without a fraction, to a json.Number.
// With t set, the value must fit integer type t; with t nil, any integer (or, for a float, any
// finite number) is accepted.
func integer(n *yaml.Node, line int, t reflect.Type, path string) (any, error) {
	unsigned := t != nil && t.Kind() >= reflect.Uint && t.Kind() <= reflect.Uintptr
	want := "an integer"
	if unsigned {
		want = "a non-negative integer"
	}
	if n.Kind != yaml.ScalarNode {
		return nil, mismatch(line, path, want, n)
	}
	var s string // the value in decimal
	switch n.ShortTag() {
	case intTag:
		var i int64
		var u uint64
		switch {
		case n.Decode(&i) == nil:
			s = strconv.FormatInt(i, 10)
		case n.Decode(&u) == nil:
			s = strconv.FormatUint(u, 10)
		default:
			return nil, outOfRange(line, path, t, n)
		}
	case floatTag:
		f, err := finite(n, line, path)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
		}
		if f != math.Trunc(f) {
			return nil, mismatch(line, path, want, n)
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	default:
		return nil, mismatch(line, path, want, n)
	}
	if t == nil {
		return json.Number(s), nil
	}
	var err error
	if unsigned {
		if strings.HasPrefix(s, "-") && s != "-0" {
			return nil, mismatch(line, path, want, n)
		}
		_, err = strconv.ParseUint(strings.TrimPrefix(s, "-"), 10, t.Bits())
	} else {
		_, err = strconv.ParseInt(s, 10, t.Bits())
	}
	if err != nil {
		return nil, outOfRange(line, path, t, n)
	}
	return json.Number(s), nil
}

func outOfRange(line int, path string, t reflect.Type, n *yaml.Node) error {
	if t == nil {
		return errorf(line, "%s: %s is too large", where(path), describe(n))
	}
	return errorf(line, "%s: %s is out of range for %s", where(path), describe(n), t)
}

// finite decodes a numeric scalar, refusing infinities and NaN, which JSON cannot carry.
func finite(n *yaml.Node, line int, path string) (float64, error) {
	var f float64
	if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errorf(line, "%s: want a finite number, got %s", where(path), describe(n))
	}
	return f, nil
}

// float converts an !!int or !!float scalar to a json.Number; t, when set, is the float type.
func float(n *yaml.Node, line int, t reflect.Type, path string) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, mismatch(line, path, "a number", n)
	}
	if tag := n.ShortTag(); tag != intTag && tag != floatTag {
		return nil, mismatch(line, path, "a number", n)
	}
	f, err := finite(n, line, path)
	if err != nil {
		return nil, err
	}
	if t != nil && reflect.Zero(t).OverflowFloat(f) {
		return nil, outOfRange(line, path, t, n)
	}
	if n.ShortTag() == intTag {
		if v, err := integer(n, line, nil, path); err == nil {
			return v, nil // keep every digit of a large integer
		}
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

// scalarText is the literal text of a scalar for a string-like Go value: numbers and booleans
// become the text the user wrote.
func scalarText(n *yaml.Node, line int, path, want string) (any, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, mismatch(line, path, want, n)
	}
	return text(n, line, path)
}

// text returns the text of a scalar with one of YAML's standard tags.
func text(n *yaml.Node, line int, path string) (any, error) {
	switch tag := n.ShortTag(); tag {
	case strTag, intTag, floatTag, boolTag, timestampTag, binaryTag, nullTag:
		return n.Value, nil
	default:
		return nil, errorf(line, "%s: unsupported YAML tag %s", where(path), tag)
	}
}

func mismatch(line int, path, want string, got *yaml.Node) error {
	return errorf(line, "%s: want %s, got %s", where(path), want, describe(got))
}

// describe names a node for an error message: its kind, or for a scalar its text.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case strTag, timestampTag, binaryTag:
			return strconv.Quote(truncate(n.Value, 40))
		case nullTag:
			return "null"
		}
		return truncate(n.Value, 40)
	}
	return "nothing"
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "..."
}

// where quotes a key path for a message, naming the top level when the path is empty.
func where(path string) string {
	if path == "" {
		return "the top level"
	}
	return strconv.Quote(path)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
