// Package manifest reads the YAML files users write (Azure ML v2 command jobs, compute targets,
// environments) into the JSON wire types, strictly: unknown keys, wrong types and malformed YAML
// are *trainyard.Error values with code Invalid whose message names the line and the key path. It
// also applies --set style overrides to such a file.
//
// It owns no types of its own: callers pass the structs they decode into, described by their json
// tags. It does no I/O and imports only the root trainyard package and the YAML library; it must
// not import store, apiserver, cli or any adapter.
package manifest
