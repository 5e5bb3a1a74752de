package dockerargs

import (
	"errors"
	"fmt"
	"strings"
)

// split splits s into words as a POSIX shell would, without expansions.
func split(s string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune // 0, ' or "
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote == '\'' && r != '\'', quote == '"' && r != '"' && r != '\\':
			w.WriteRune(r)
		case quote != 0 && r == quote:
			quote = 0
		case r == '\\':
			if i+1 == len(rs) {
				return nil, errors.New("the value ends with a lone backslash")
			}
			i++
			if quote == '"' && !strings.ContainsRune("\"\\$`", rs[i]) {
				w.WriteRune('\\') // inside double quotes, other backslashes stay
			}
			w.WriteRune(rs[i])
			inWord = true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		default:
			w.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("a %c quote is not closed; close it, or escape it with a backslash", quote)
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}
