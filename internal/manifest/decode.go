package manifest

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"github.com/trainyard/trainyard"
)

// Limits on what one document may expand to. Aliases can make a small file describe a huge or
// cyclic tree ("billion laughs"); the walk stops with an error instead. The walk may visit
// aliasFactor times as many values as the file spells out, plus aliasSlack.
const (
	maxDepth    = 256 // nested mappings and lists
	aliasFactor = 4
	aliasSlack  = 1 << 14
)

const (
	nullTag      = "!!null"
	boolTag      = "!!bool"
	strTag       = "!!str"
	intTag       = "!!int"
	floatTag     = "!!float"
	timestampTag = "!!timestamp"
	binaryTag    = "!!binary"
	mergeTag     = "!!merge"
)

var (
	rawMessageType  = reflect.TypeFor[json.RawMessage]()
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textType        = reflect.TypeFor[encoding.TextUnmarshaler]()
	objectFormType  = reflect.TypeFor[objectFormer]()
)

// objectFormer is a json.Unmarshaler that takes either a scalar or the JSON object of a
// struct, e.g. a job's compute: a name or an inline compute spec. ObjectForm returns a pointer
// to that struct (new(ComputeSpec)); Decode checks a mapping against it key by key, so that a
// mistake in the mapping names its own line and key path.
type objectFormer interface{ ObjectForm() any }

// objectForm returns the struct type a mapping of a value of type t is checked against.
func objectForm(t reflect.Type) (reflect.Type, bool) {
	if !implements(t, objectFormType) {
		return nil, false
	}
	v := reflect.New(t)
	for v.Elem().Kind() == reflect.Pointer { // a pointer type: make its target too
		v.Elem().Set(reflect.New(v.Elem().Type().Elem()))
		v = v.Elem()
	}
	of, ok := v.Interface().(objectFormer)
	if !ok {
		return nil, false
	}
	st := reflect.TypeOf(of.ObjectForm())
	if st == nil || st.Kind() != reflect.Pointer || st.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	return st.Elem(), true
}

// Decode parses YAML data into v (a pointer to a struct with json tags). Unknown keys, wrong
// types and malformed YAML are errors naming the file-relative line and the key path.
//
// The YAML is checked against v's type, turned into JSON and decoded with encoding/json, so
// json.Unmarshaler types work; one that also has an ObjectForm method has its mappings checked
// against the struct that method names. A number or boolean where a string is wanted becomes its
// literal text ("version: 1" gives "1"). Fields of type any, json.RawMessage or a
// json.Unmarshaler accept any YAML value; numbers there decode as encoding/json decodes them
// (float64 in an any). Aliases are expanded and merge keys (<<) applied: a mapping's own keys
// win over merged ones, and earlier merge sources over later ones. Keys the file leaves out or
// sets to null keep what v held, so callers may preset defaults.
//
// User errors are *trainyard.Error with code Invalid; the first one in document order is
// reported. Passing anything but a non-nil pointer is a programming error, reported as a plain
// error.
func Decode(data []byte, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("manifest: decode into %T: want a non-nil pointer", v)
	}
	doc, err := parse(data)
	if err != nil {
		return err
	}
	if doc == nil {
		return trainyard.Errorf(trainyard.Invalid, "the file is empty")
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return errorf(root.Line, "the top level must be a mapping of keys, got %s", describe(root))
	}
	d := decoder{budget: aliasFactor*size(root) + aliasSlack}
	val, err := d.value(root, rv.Elem().Type(), "")
	if err != nil {
		return err
	}
	js, err := marshal(val)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	dec.UseNumber() // numbers in free-form values (inputs) keep every digit
	if err := dec.Decode(v); err != nil {
		// The walk checked every value first, so this is a mismatch between it and encoding/json.
		return &trainyard.Error{Code: trainyard.Invalid, Message: "cannot decode the file", Err: err}
	}
	return nil
}

// parse returns the document node of the single YAML document in data, or nil when data holds
// no document or only an empty one. An empty document after the first one is allowed, so a
// trailing "---" is harmless.
func parse(data []byte) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(err)
		}
		if !isEmptyDoc(&extra) {
			return nil, errorf(extra.Line, "a second YAML document starts here; want one document per file")
		}
	}
	if isEmptyDoc(&doc) {
		return nil, nil
	}
	return &doc, nil
}

func isEmptyDoc(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	n := doc.Content[0]
	return n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag && n.Value == ""
}

// yamlError wraps a parser error, which names its line already ("yaml: line 3: ...").
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	return trainyard.Errorf(trainyard.Invalid, "invalid YAML: %s", msg)
}

func errorf(line int, format string, args ...any) *trainyard.Error {
	return trainyard.Errorf(trainyard.Invalid, "line %d: %s", line, fmt.Sprintf(format, args...))
}

// marshal writes the walked value as JSON, leaving <, > and & unescaped.
func marshal(val any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(val); err != nil {
		return nil, fmt.Errorf("manifest: encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// decoder walks a node tree against a Go type and returns the equivalent JSON value: map[string]any,
// []any, string, json.Number, bool or nil.
type decoder struct {
	depth  int
	nodes  int
	budget int // the most nodes the walk may visit
}

// size counts the nodes of the tree under n without following aliases.
func size(n *yaml.Node) int {
	s := 1
	for _, c := range n.Content {
		s += size(c)
	}
	return s
}

// enter follows aliases, counts the node and checks the limits. The caller defers d.leave().
func (d *decoder) enter(n *yaml.Node) (*yaml.Node, error) {
	d.depth++
	d.nodes++
	if d.depth > maxDepth {
		return nil, errorf(n.Line, "values nested more than %d levels deep (is an anchor used inside itself?)", maxDepth)
	}
	if d.nodes > d.budget {
		return nil, errorf(n.Line, "aliases expand the file to more than %d values", d.budget)
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n, nil
}

func (d *decoder) leave() { d.depth-- }

// value converts node n, found at path, for a Go value of type t.
func (d *decoder) value(n *yaml.Node, t reflect.Type, path string) (any, error) {
	line := n.Line // where the value is written, even when it is an alias
	n, err := d.enter(n)
	defer d.leave()
	if err != nil {
		return nil, err
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == nullTag {
		return nil, nil
	}
	for t.Kind() == reflect.Pointer && !custom(t) {
		t = t.Elem()
	}
	switch {
	case t == rawMessageType || t.Kind() == reflect.Interface:
		return d.any(n, path)
	case implements(t, unmarshalerType):
		if st, ok := objectForm(t); ok && n.Kind == yaml.MappingNode {
			v, err := d.object(n, line, st, path)
			if err != nil {
				return nil, err
			}
			return v, check(v, t, line, path)
		}
		v, err := d.any(n, path)
		if err != nil {
			return nil, err
		}
		return v, check(v, t, line, path)
	case implements(t, textType):
		if n.Kind != yaml.ScalarNode {
			return nil, mismatch(line, path, "a string", n)
		}
		s, err := text(n, line, path)
		if err != nil {
			return nil, err
		}
		return s, check(s, t, line, path)
	}

	switch t.Kind() {
	case reflect.Struct:
		return d.object(n, line, t, path)
	case reflect.Map:
		return d.mapping(n, line, t, path)
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !custom(t.Elem()) {
			s, err := scalarText(n, line, path, "a base64 string") // encoding/json's form of []byte
			if err != nil {
				return nil, err
			}
			return s, check(s, t, line, path)
		}
		return d.list(n, line, t, path)
	case reflect.String:
		return scalarText(n, line, path, "a string")
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != boolTag {
			return nil, mismatch(line, path, "true or false", n)
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, mismatch(line, path, "true or false", n)
		}
		return b, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return integer(n, line, t, path)
	case reflect.Float32, reflect.Float64:
		return float(n, line, t, path)
	}
	return nil, fmt.Errorf("manifest: %s: cannot decode into Go type %s", where(path), t)
}

// custom reports whether t decodes itself from JSON or from text.
func custom(t reflect.Type) bool {
	return implements(t, unmarshalerType) || implements(t, textType)
}

func implements(t, iface reflect.Type) bool {
	return t.Implements(iface) || (t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(iface))
}

// check decodes the JSON form of v into a new value of type t, so that an error from a custom
// UnmarshalJSON or UnmarshalText names the line and the key path.
func check(v any, t reflect.Type, line int, path string) error {
	js, err := marshal(v)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(js, reflect.New(t).Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf(line, "%s: cannot use a %s here", where(path), te.Value)
		}
		return errorf(line, "%s: %v", where(path), err)
	}
	return nil
}

// object converts a mapping into a struct's JSON object, refusing keys the struct lacks.
func (d *decoder) object(n *yaml.Node, line int, t reflect.Type, path string) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, mismatch(line, path, "a mapping", n)
	}
	fs := fieldsOf(t)
	pairs, err := d.pairs(n, path)
	if err != nil {
		return nil, err
	}
	obj := make(map[string]any, len(pairs))
	for _, p := range pairs {
		f, ok := fs.byName[p.name]
		if !ok {
			return nil, unknownKey(p.key.Line, path, p.name, fs.names)
		}
		v, err := d.value(p.value, f.typ, join(path, p.name))
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue // null leaves the field zero
		}
		if f.quoted {
			js, err := marshal(v)
			if err != nil {
				return nil, err
			}
			v = string(js)
		}
		obj[p.name] = v
	}
	return obj, nil
}

func unknownKey(line int, path, name string, known []string) error {
	list := strings.Join(known, ", ")
	if list == "" {
		list = "(none)"
	}
	if path == "" {
		return errorf(line, "unknown key %q; known top-level keys: %s", name, list)
	}
	return errorf(line, "unknown key %q; known keys under %q: %s", join(path, name), path, list)
}

// mapping converts a mapping into a Go map's JSON object; any key is allowed.
func (d *decoder) mapping(n *yaml.Node, line int, t reflect.Type, path string) (any, error) {
	if n.Kind != yaml.MappingNode {
		return nil, mismatch(line, path, "a mapping", n)
	}
	pairs, err := d.pairs(n, path)
	if err != nil {
		return nil, err
	}
	kt := t.Key()
	obj := make(map[string]any, len(pairs))
	for _, p := range pairs {
		switch {
		case kt.Kind() == reflect.String || implements(kt, textType):
		case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
			if _, err := strconv.ParseInt(p.name, 10, kt.Bits()); err != nil {
				return nil, errorf(p.key.Line, "%s: keys must be integers, got %q", where(path), p.name)
			}
		case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
			if _, err := strconv.ParseUint(p.name, 10, kt.Bits()); err != nil {
				return nil, errorf(p.key.Line, "%s: keys must be non-negative integers, got %q", where(path), p.name)
			}
		default:
			return nil, fmt.Errorf("manifest: %s: cannot decode into Go type %s", where(path), t)
		}
		v, err := d.value(p.value, t.Elem(), join(path, p.name))
		if err != nil {
			return nil, err
		}
		obj[p.name] = v
	}
	return obj, nil
}

// list converts a sequence into a JSON array for a slice or array.
func (d *decoder) list(n *yaml.Node, line int, t reflect.Type, path string) (any, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, mismatch(line, path, "a list", n)
	}
	if t.Kind() == reflect.Array && len(n.Content) > t.Len() {
		return nil, errorf(line, "%s: want at most %d items, got %d", where(path), t.Len(), len(n.Content))
	}
	arr := make([]any, 0, len(n.Content))
	for i, c := range n.Content {
		v, err := d.value(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		if err != nil {
			return nil, err
		}
		arr = append(arr, v)
	}
	return arr, nil
}

// any converts a node into its natural JSON value, as for a field of type any.
func (d *decoder) any(n *yaml.Node, path string) (any, error) {
	switch n.Kind {
	case yaml.MappingNode:
		pairs, err := d.pairs(n, path)
		if err != nil {
			return nil, err
		}
		obj := make(map[string]any, len(pairs))
		for _, p := range pairs {
			v, err := d.natural(p.value, join(path, p.name))
			if err != nil {
				return nil, err
			}
			obj[p.name] = v
		}
		return obj, nil
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			v, err := d.natural(c, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	}
	switch n.ShortTag() {
	case nullTag:
		return nil, nil
	case boolTag:
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, errorf(n.Line, "%s: %v", where(path), err)
		}
		return b, nil
	case intTag:
		return integer(n, n.Line, nil, path)
	case floatTag:
		return float(n, n.Line, nil, path)
	}
	return text(n, n.Line, path)
}

// natural is any for a node below the current one: it follows aliases and counts the node.
func (d *decoder) natural(n *yaml.Node, path string) (any, error) {
	n, err := d.enter(n)
	defer d.leave()
	if err != nil {
		return nil, err
	}
	return d.any(n, path)
}
