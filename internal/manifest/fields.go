package manifest

import (
	"reflect"
	"slices"
	"strings"
	"sync"
)

// field is one JSON-visible field of a struct, found by the rules encoding/json uses.
type field struct {
	name   string
	typ    reflect.Type
	quoted bool // the ",string" option: the JSON value is a string holding the literal
	depth  int  // embedding depth, for dominance
	tagged bool // the name came from a json tag
}

// fieldSet is the fields of one struct type by JSON name, and the names sorted.
type fieldSet struct {
	byName map[string]field
	names  []string
}

var fieldCache sync.Map // reflect.Type → *fieldSet

// fieldsOf returns the fields encoding/json would decode into for struct type t: the name before
// the comma in the json tag (the Go name when there is none), "-" skipped, unexported fields
// skipped, and the fields of untagged embedded structs promoted, the shallowest (then the only
// tagged) field winning a name and ambiguous names dropped.
func fieldsOf(t reflect.Type) *fieldSet {
	if fs, ok := fieldCache.Load(t); ok {
		return fs.(*fieldSet)
	}
	var all []field
	visited := map[reflect.Type]bool{}
	type level struct {
		typ   reflect.Type
		depth int
	}
	queue := []level{{t, 0}} // breadth first, so depths never decrease
	for len(queue) > 0 {
		l := queue[0]
		queue = queue[1:]
		if visited[l.typ] {
			continue
		}
		visited[l.typ] = true
		for i := range l.typ.NumField() {
			sf := l.typ.Field(i)
			ft := sf.Type
			if ft.Name() == "" && ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if sf.Anonymous {
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
				queue = append(queue, level{ft, l.depth + 1})
				continue
			}
			f := field{name: name, typ: sf.Type, depth: l.depth, tagged: name != ""}
			if name == "" {
				f.name = sf.Name
			}
			if slices.Contains(strings.Split(opts, ","), "string") {
				switch ft.Kind() {
				case reflect.Bool, reflect.String, reflect.Float32, reflect.Float64,
					reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
					f.quoted = true
				}
			}
			all = append(all, f)
		}
	}

	groups := map[string][]field{}
	for _, f := range all {
		groups[f.name] = append(groups[f.name], f)
	}
	fs := &fieldSet{byName: map[string]field{}}
	for name, g := range groups {
		if f, ok := dominant(g); ok {
			fs.byName[name] = f
			fs.names = append(fs.names, name)
		}
	}
	slices.Sort(fs.names)
	v, _ := fieldCache.LoadOrStore(t, fs)
	return v.(*fieldSet)
}

// dominant picks the field that wins a name: the only one at the shallowest depth, or the only
// tagged one there. Otherwise the name is ambiguous and encoding/json ignores it.
func dominant(g []field) (field, bool) {
	minDepth := g[0].depth
	for _, f := range g {
		minDepth = min(minDepth, f.depth)
	}
	var top, tagged []field
	for _, f := range g {
		if f.depth == minDepth {
			top = append(top, f)
			if f.tagged {
				tagged = append(tagged, f)
			}
		}
	}
	switch {
	case len(top) == 1:
		return top[0], true
	case len(tagged) == 1:
		return tagged[0], true
	}
	return field{}, false
}
