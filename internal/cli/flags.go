package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

func flagString(f *pflag.FlagSet, name string) string {
	v, _ := f.GetString(name)
	return v
}

// keyValues parses repeated key=value flags.
func keyValues(flag string, pairs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, UsageError{fmt.Errorf("%s %q: want key=value", flag, p)}
		}
		m[k] = v
	}
	return m, nil
}
