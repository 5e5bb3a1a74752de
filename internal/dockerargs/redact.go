package dockerargs

import "strings"

// Redact is s for display: the value of every -e/--env variable is replaced by "(hidden)",
// as jobs' environment values are. A string that does not split is not shown at all.
func Redact(s string) string {
	args, err := split(s)
	if err != nil {
		return "(hidden)"
	}
	hide := func(kv string) string {
		k, _, _ := strings.Cut(kv, "=")
		return k + "=(hidden)"
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-e" || a == "--env":
			if i+1 < len(args) {
				i++
				args[i] = hide(args[i])
			}
		case strings.HasPrefix(a, "--env="):
			args[i] = "--env=" + hide(strings.TrimPrefix(a, "--env="))
		case strings.HasPrefix(a, "-e"):
			args[i] = "-e" + hide(strings.TrimPrefix(strings.TrimPrefix(a, "-e"), "="))
		}
		if strings.ContainsAny(args[i], " \t\n'\"\\$`") {
			args[i] = "'" + strings.ReplaceAll(args[i], "'", `'\''`) + "'"
		}
	}
	return strings.Join(args, " ")
}
