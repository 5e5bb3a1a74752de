package manifest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/trainyard/trainyard"
)

// Set applies --set style overrides ("resources.instance_count=2", "inputs.epochs=5",
// "tags.team=vision") to YAML data and returns the new YAML; values are parsed as YAML scalars
// ("5" → int, "true" → bool, "abc" → string). Creates missing intermediate maps.
//
// A key path is dotted names, each optionally followed by list indexes ("nodes[0].name"); an
// index must name an existing item. A null value on the way counts as missing. A value that is
// not a single plain YAML scalar ("a: b", "[1, 2]", " 5") is kept as a string; quote a value to
// force a string ("version='1'"); an empty value is the empty string. The assignments apply in
// order, so a later one wins. The rest of the document keeps its keys, order and comments, but
// is re-indented by the YAML encoder. Empty data starts an empty mapping.
func Set(data []byte, assignments []string) ([]byte, error) {
	doc, err := parse(data)
	if err != nil {
		return nil, err
	}
	if doc == nil {
		doc = &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{newMapping()}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, errorf(root.Line, "the top level must be a mapping of keys, got %s", describe(root))
	}
	for _, a := range assignments {
		if err := assign(root, a); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return buf.Bytes(), nil
}

// step is one element of a key path: a mapping key, or a list index when isIndex.
type step struct {
	key     string
	index   int
	isIndex bool
}

// assign applies one "path=value" to the top-level mapping root.
func assign(root *yaml.Node, a string) error {
	key, val, ok := strings.Cut(a, "=")
	if !ok {
		return trainyard.Errorf(trainyard.Invalid, "bad assignment %q: want key=value", a)
	}
	steps, err := parsePath(key)
	if err != nil {
		return trainyard.Errorf(trainyard.Invalid, "bad assignment %q: %s", a, err)
	}
	fail := func(n *yaml.Node, format string, args ...any) error {
		return errorf(n.Line, "cannot set %q: %s", key, fmt.Sprintf(format, args...))
	}

	cur, path := root, ""
	for i, s := range steps {
		last := i == len(steps)-1
		var child *yaml.Node
		if s.isIndex {
			if cur.Kind != yaml.SequenceNode {
				return fail(cur, "%s is %s, not a list", where(path), describe(cur))
			}
			if s.index >= len(cur.Content) {
				return fail(cur, "%s has %d items, no index %d", where(path), len(cur.Content), s.index)
			}
			path = fmt.Sprintf("%s[%d]", path, s.index)
			child = cur.Content[s.index]
		} else {
			if cur.Kind != yaml.MappingNode {
				return fail(cur, "%s is %s, not a mapping", where(path), describe(cur))
			}
			path = join(path, s.key)
			child = lookup(cur, s.key)
			if child == nil {
				child = newMapping()
				if last {
					child = &yaml.Node{Kind: yaml.ScalarNode, Tag: nullTag}
				}
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: s.key}, child)
			}
		}
		if last {
			replace(child, scalar(val))
			return nil
		}
		if child.Kind == yaml.AliasNode {
			return fail(child, "%q is an alias (*%s); set the keys in the anchored value instead", path, child.Value)
		}
		if child.Kind == yaml.ScalarNode && child.ShortTag() == nullTag && !steps[i+1].isIndex {
			replace(child, newMapping())
		}
		cur = child
	}
	return nil
}

// parsePath splits "a.b[2].c" into steps.
func parsePath(key string) ([]step, error) {
	if key == "" {
		return nil, fmt.Errorf("empty key")
	}
	var steps []step
	for seg := range strings.SplitSeq(key, ".") {
		name, rest, indexed := strings.Cut(seg, "[")
		if name == "" {
			return nil, fmt.Errorf("empty key in %q", key)
		}
		steps = append(steps, step{key: name})
		if !indexed {
			continue
		}
		for idx := range strings.SplitSeq(rest, "[") {
			num, ok := strings.CutSuffix(idx, "]")
			i, err := strconv.Atoi(num)
			if !ok || err != nil || i < 0 || strings.HasPrefix(num, "+") {
				return nil, fmt.Errorf("bad list index in %q: want name[N] with N >= 0", seg)
			}
			steps = append(steps, step{index: i, isIndex: true})
		}
	}
	return steps, nil
}

// lookup returns the value of key in mapping n, or nil. Keys brought in by merge keys are not
// looked at: setting one adds it to n, where it wins over the merged value.
func lookup(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == key && k.ShortTag() != mergeTag {
			return n.Content[i+1]
		}
	}
	return nil
}

func newMapping() *yaml.Node { return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"} }

// scalar returns the node for an assigned value: the YAML scalar it spells when it is one
// exactly (a plain scalar that reads back unchanged, or a quoted one), else a string.
func scalar(val string) *yaml.Node {
	var doc yaml.Node
	if val != "" && yaml.Unmarshal([]byte(val), &doc) == nil && len(doc.Content) == 1 {
		n := doc.Content[0]
		exact := n.Kind == yaml.ScalarNode && n.Anchor == "" &&
			n.HeadComment == "" && n.LineComment == "" && n.FootComment == "" &&
			(n.Style == yaml.SingleQuotedStyle || n.Style == yaml.DoubleQuotedStyle || n.Style == 0 && n.Value == val)
		if exact {
			return &yaml.Node{Kind: yaml.ScalarNode, Tag: n.ShortTag(), Value: n.Value, Style: n.Style}
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: strTag, Value: val}
}

// replace makes dst hold src's value, keeping dst's place, anchor and comments.
func replace(dst, src *yaml.Node) {
	dst.Kind, dst.Tag, dst.Value, dst.Style = src.Kind, src.Tag, src.Value, src.Style
	dst.Content, dst.Alias = src.Content, nil
}
