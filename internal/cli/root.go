// Package cli is every command of the trainyard binary: the server and agent programs and the
// client commands. Client commands reach the server only through package api; this package
// must not import the store.
package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// Exit codes, as in gh: 0 ok, 1 error, 2 usage, 4 authentication.
const (
	exitError = 1
	exitUsage = 2
	exitAuth  = 4
)

// globals are the flags every client command has.
type globals struct {
	server    string
	token     string
	workspace string
	output    string
	stdout    io.Writer
	stderr    io.Writer
}

// Main runs the CLI with args and returns the process exit code. programs are the commands
// that run a part of the system (server, agent); the binary's main package wires them, so
// that this package reaches the server only through the API.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, programs ...*cobra.Command) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "trainyard",
		Short: "Run training jobs on compute you own",
		Long: `trainyard is a self-hosted control plane for machine-learning compute: create compute
targets, submit training jobs to them, stream their logs and metrics, and get their outputs.`,
		Example: `  trainyard server &
  trainyard compute create --name cpu-cluster --type amlcompute --size STANDARD_D2_V2 --max-instances 2
  trainyard job create -f examples/digits/job.yml --stream`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", "", "server URL (default: $TRAINYARD_SERVER, the config file, or the local server)")
	pf.StringVar(&g.token, "token", "", "bearer token (default: $TRAINYARD_TOKEN, the config file, or the local server's admin token)")
	pf.StringVarP(&g.workspace, "workspace", "w", "", "workspace (default: $TRAINYARD_WORKSPACE, the config file, or \"default\")")
	pf.StringVarP(&g.output, "output", "o", "table", "output format of read commands: table, json or yaml")
	root.PersistentPreRunE = func(*cobra.Command, []string) error {
		switch g.output { // before the command acts: a create or a replay, not only its answer
		case "table", "", "json", "yaml":
			return nil
		}
		return UsageError{fmt.Errorf("--output %q: choose table, json or yaml", g.output)}
	}
	root.AddCommand(programs...)
	root.AddCommand(newComputeCmd(g), newComputeTargetCmd(g), newEnvironmentCmd(g), newJobCmd(g), newNodeCmd(g), newOperationCmd(g), newQuotaCmd(g), newSimulateCmd(g), newWorkspaceCmd(g))
	usageArgs(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return UsageError{fmt.Errorf("%s\nrun '%s --help' for usage", flagError(err), c.CommandPath())}
	})
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "error:", message(err))
	var ue UsageError
	switch {
	case errors.As(err, &ue):
		return exitUsage
	case api.HasCode(err, "unauthenticated"):
		return exitAuth
	}
	return exitError
}

// UsageError is a mistake in how a command was called; it exits with code 2.
type UsageError struct{ Err error }

func (u UsageError) Error() string { return u.Err.Error() }
func (u UsageError) Unwrap() error { return u.Err }

// usageArgs makes a wrong number of arguments a usage error, in every command under c, that
// says in words what is missing or extra, with the usage line and an example, in place of
// cobra's "accepts 1 arg(s), received 0".
func usageArgs(c *cobra.Command) {
	if check := c.Args; check != nil {
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return UsageError{argsError(cmd, args, check, err)}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageArgs(sub)
	}
}

// argsAnnotation is the annotation in which a command describes its arguments for argsError,
// e.g. "the ID of an operation"; without it they are described from the command's Use.
const argsAnnotation = "args"

// argsError explains why check refused args. It tells missing arguments from extra ones by
// asking check again with more and with one fewer, whatever check is.
func argsError(cmd *cobra.Command, args []string, check cobra.PositionalArgs, err error) error {
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	placeholders, afterDashes := argsOfUse(cmd.Use)
	missing := false
	for more := args; !missing && len(more) < len(args)+max(1, len(placeholders)); {
		more = append(slices.Clip(more), "ARG")
		missing = check(cmd, more) == nil
	}
	var msg string
	switch {
	case missing:
		want := cmd.Annotations[argsAnnotation]
		switch {
		case want != "":
		case afterDashes:
			want = "the command to run after --"
		case len(placeholders) == 1:
			want = "its " + placeholders[0] + " argument"
		default:
			want = "its arguments " + strings.Join(placeholders, " ")
		}
		msg = name + " needs " + want
		if ex := argsExample(cmd, afterDashes); ex != "" {
			msg += ": " + ex
		}
	case len(args) > 0 && check(cmd, args[:len(args)-1]) == nil:
		got := make([]string, len(args))
		for i, a := range args {
			got[i] = strconv.Quote(a)
		}
		if len(placeholders) == 0 {
			msg = fmt.Sprintf("%s takes no arguments, but got %s; give everything with flags", name, strings.Join(got, " "))
			if ex := argsExample(cmd, false); ex != "" {
				msg += ", e.g. " + ex
			}
		} else {
			msg = fmt.Sprintf("%s takes %s only, but got %d arguments: %s", name, strings.Join(placeholders, " "), len(args), strings.Join(got, " "))
		}
	default:
		msg = err.Error()
	}
	return fmt.Errorf("%s\nusage: %s\nrun '%s --help' for more", msg, cmd.UseLine(), cmd.CommandPath())
}

// argsOfUse returns the argument placeholders of a command's Use line ("show ID" has ID), and
// whether they come after "--", as a command to run does.
func argsOfUse(use string) (placeholders []string, afterDashes bool) {
	f := strings.Fields(use)
	for _, w := range f[min(1, len(f)):] {
		switch w {
		case "[flags]":
		case "--":
			afterDashes = true
		default:
			placeholders = append(placeholders, w)
		}
	}
	return placeholders, afterDashes
}

// argsExample is the first example of the command from its Example; for a command that runs
// a command after "--", the first example that does.
func argsExample(cmd *cobra.Command, afterDashes bool) string {
	first := ""
	for _, l := range strings.Split(cmd.Example, "\n") {
		l = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l), "\\"))
		if !strings.HasPrefix(l, cmd.Root().Name()+" ") {
			continue
		}
		if !afterDashes || strings.Contains(l, " -- ") {
			return l
		}
		first = cmp.Or(first, l)
	}
	return first
}

// config is the CLI's config file, ~/.config/trainyard/config.yaml.
// message is what a user reads of err: the API's or the domain's message without its code.
func message(err error) string {
	if te, ok := errors.AsType[*trainyard.Error](err); ok {
		return strings.Replace(err.Error(), te.Error(), te.Message, 1)
	}
	return err.Error()
}

type config struct {
	Server    string `json:"server"`
	Token     string `json:"token"`
	Workspace string `json:"workspace"`
}

func readConfig() config {
	var c config
	dir, err := os.UserConfigDir()
	if err != nil {
		return c
	}
	path := filepath.Join(dir, "trainyard", "config.yaml")
	if b, err := os.ReadFile(path); err == nil {
		if err := yaml.UnmarshalStrict(b, &c); err != nil {
			fmt.Fprintf(os.Stderr, "warning: ignoring %s: %v\n", path, err)
			return config{}
		}
	}
	return c
}

// localDataDir is where a server on this machine keeps its files.
func localDataDir() string { return api.DefaultDataDir() }

// client resolves server and token: flags, then environment, then the config file, then the
// files of a server running on this machine.
func (g *globals) client() (*api.Client, error) {
	cfg := readConfig()
	srv := firstOf(g.server, os.Getenv("TRAINYARD_SERVER"), cfg.Server)
	tok := firstOf(g.token, os.Getenv("TRAINYARD_TOKEN"), cfg.Token)
	dir := localDataDir()
	var local api.ServerInfo
	if b, err := os.ReadFile(filepath.Join(dir, api.ServerInfoFile)); err == nil {
		json.Unmarshal(b, &local)
	}
	if srv == "" {
		srv = local.URL
	}
	if srv == "" {
		return nil, fmt.Errorf("no trainyard server found: start one with 'trainyard server', or name one with --server or TRAINYARD_SERVER (looked for %s)",
			filepath.Join(dir, api.ServerInfoFile))
	}
	// The local admin token goes only to the local server, never to another address.
	if tok == "" && srv != "" && strings.TrimRight(srv, "/") == local.URL {
		if b, err := os.ReadFile(filepath.Join(dir, api.AdminTokenFile)); err == nil {
			tok = strings.TrimSpace(string(b))
		}
	}
	if tok == "" {
		return nil, fmt.Errorf("no token for %s: pass --token or set TRAINYARD_TOKEN (a local server writes its admin token to %s)",
			srv, filepath.Join(dir, api.AdminTokenFile))
	}
	return api.NewClient(srv, tok), nil
}

func (g *globals) ws() string {
	return firstOf(g.workspace, os.Getenv("TRAINYARD_WORKSPACE"), readConfig().Workspace, "default")
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

// print writes v as JSON or YAML, or calls table for the table format.
func (g *globals) print(v any, table func(w io.Writer)) error {
	switch g.output {
	case "json":
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = g.stdout.Write(b)
		return err
	case "table", "":
		table(g.stdout)
		return nil
	}
	return UsageError{fmt.Errorf("--output %q: choose table, json or yaml", g.output)}
}

// badNumber is pflag's words for a flag value that is not a number, which name Go's parser.
var badNumber = regexp.MustCompile(`^invalid argument "(.*)" for "(.*)" flag: strconv\.Parse(Int|Uint|Float|Bool): .*$`)

// flagError says what is wrong with a flag in the user's words.
func flagError(err error) string {
	m := badNumber.FindStringSubmatch(err.Error())
	if m == nil {
		return err.Error()
	}
	want := map[string]string{"Int": "a whole number", "Uint": "a whole number, 0 or more", "Float": "a number", "Bool": "true or false"}[m[3]]
	return fmt.Sprintf("%s %q: want %s", m[2], m[1], want)
}
