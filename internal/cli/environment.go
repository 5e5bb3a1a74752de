package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
)

func newEnvironmentCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "environment",
		Aliases: []string{"env"},
		Short:   "Register and inspect the container environments jobs run in",
		Long: `An environment is the container a job runs in: an image to run as it is, a folder with a
Dockerfile to build, or a conda file on top of an image. Versions never change; jobs refer to
one as NAME:VERSION or NAME@latest (also written azureml:NAME:VERSION). Images are built on the
server's Docker engine once per content hash and reused; trainyard never pulls from a registry.`,
		Example: `  trainyard environment create -f env.yml
  trainyard environment list
  trainyard environment show train-env@latest`,
	}
	cmd.AddCommand(newEnvironmentCreateCmd(g), newEnvironmentListCmd(g), newEnvironmentShowCmd(g))
	return cmd
}

func newEnvironmentCreateCmd(g *globals) *cobra.Command {
	var file, name, version string
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Register an environment version from an Azure ML v2 environment YAML file",
		Long: `Register an environment from a YAML file with image:, or build: (path: a folder with a
Dockerfile, relative to the file; dockerfile_path: inside it), and optionally conda_file: (a file
relative to the YAML) on top of an image. The build folder is uploaded; the image is built when a
job first needs it, as the job's Preparing step.`,
		Example: `  trainyard environment create -f env.yml
  trainyard environment create -f env.yml --name train-env --version 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return UsageError{errors.New("--file (-f) is required: the environment's YAML file")}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			var spec api.EnvironmentSpec
			if err := manifest.Decode(data, &spec); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			if name != "" {
				spec.Name = name
			}
			if version != "" {
				spec.Version = version
			}
			if spec.Name == "" {
				return fmt.Errorf("%s: name is required (or give --name)", file)
			}
			if err := trainyard.CheckEnvironmentName(spec.Name); err != nil {
				return errors.New(trainyard.ErrorMessage(err))
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			base, _ := filepath.Abs(filepath.Dir(file))
			if err := g.prepareEnvironment(cmd.Context(), c, &spec, base); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			e, err := c.CreateEnvironment(cmd.Context(), g.ws(), spec)
			if err != nil {
				return err
			}
			return g.print(e, func(w io.Writer) {
				fmt.Fprintf(w, "environment %s:%s created; image %s\n", e.Name, e.Version, e.RunImage)
				fmt.Fprintf(w, "use it in a job with: environment: azureml:%s:%s\n", e.Name, e.Version)
			})
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "the environment's YAML file")
	cmd.Flags().StringVarP(&name, "name", "n", "", "name (default: the file's name:)")
	cmd.Flags().StringVarP(&version, "version", "v", "", "version (default: the file's, else the next whole number)")
	return cmd
}

// prepareEnvironment turns the file form of an environment into the wire form: the build
// folder is uploaded and named by its ID, the conda file is read into text. base is the
// folder of the YAML file that paths are relative to.
func (g *globals) prepareEnvironment(ctx context.Context, c *api.Client, spec *api.EnvironmentSpec, base string) error {
	switch v := spec.CondaFile.(type) {
	case nil:
	case string:
		p := v
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("conda_file: %w", err)
		}
		spec.CondaFile = string(b)
	default: // written inline
		b, err := yaml.Marshal(v)
		if err != nil {
			return fmt.Errorf("conda_file: %w", err)
		}
		spec.CondaFile = string(b)
	}
	if spec.Build == nil {
		return nil
	}
	dir := spec.Build.Path
	if dir == "" {
		return errors.New("build.path is required: the folder with the Dockerfile")
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(base, dir)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("build.path %s: no such folder; give the folder that holds the Dockerfile, relative to the YAML file", dir)
	}
	df := spec.Build.DockerfilePath
	if df == "" {
		df = "Dockerfile"
	}
	if !filepath.IsLocal(df) {
		return fmt.Errorf("build.dockerfile_path %q: give a path inside build.path, like Dockerfile or docker/train.Dockerfile", df)
	}
	if _, err := os.Stat(filepath.Join(dir, df)); err != nil {
		return fmt.Errorf("build: no Dockerfile at %s: give build.dockerfile_path relative to build.path", filepath.Join(dir, df))
	}
	id, err := upload(ctx, c, g, dir, "build context")
	if err != nil {
		return err
	}
	spec.Build.Path = id
	return nil
}

// prepareJobEnvironment does prepareEnvironment for a job's inline environment, whose paths
// are relative to base. With
// probe, nothing is uploaded: the build folder is named by a stand-in ID, so the server can
// check the rest first.
func (g *globals) prepareJobEnvironment(ctx context.Context, c *api.Client, spec *api.JobSpec, base string, probe bool) error {
	m, ok := spec.Environment.(map[string]any)
	if !ok {
		return nil
	}
	var es api.EnvironmentSpec
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, &es); err != nil {
		return fmt.Errorf("environment: %w", err)
	}
	if probe && es.Build != nil {
		es.Build.Path = strings.Repeat("0", 64)
		es.CondaFile = nil
	} else if err := g.prepareEnvironment(ctx, c, &es, base); err != nil {
		return fmt.Errorf("environment.%w", err)
	}
	spec.Environment = es
	return nil
}

func newEnvironmentListCmd(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "list",
		Short:   "List environments (their latest versions), or every version of one",
		Example: "  trainyard environment list\n  trainyard environment list --name train-env",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			envs, err := c.Environments(cmd.Context(), g.ws(), name)
			if err != nil {
				return err
			}
			return g.print(envs, func(w io.Writer) {
				tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tVERSION\tIMAGE\tBUILT\tCREATED")
				for _, e := range envs {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Version, e.RunImage, built(e), e.Created.Local().Format("2006-01-02 15:04"))
				}
				tw.Flush()
			})
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "list every version of this environment")
	return cmd
}

func built(e api.Environment) string {
	switch {
	case e.Built == nil:
		return "unknown"
	case *e.Built:
		return "yes"
	}
	return "no"
}

func newEnvironmentShowCmd(g *globals) *cobra.Command {
	var name, version, label string
	cmd := &cobra.Command{
		Use:   "show [NAME:VERSION | NAME@latest]",
		Short: "Show one environment version",
		Example: `  trainyard environment show train-env:1
  trainyard environment show --name train-env --label latest`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				n, v, err := trainyard.ParseEnvironmentRef(args[0])
				if err != nil {
					return UsageError{errors.New(trainyard.ErrorMessage(err))}
				}
				name, version = n, v
			} else if name == "" {
				return UsageError{errors.New("give NAME:VERSION, NAME@latest, or --name (list them with: trainyard environment list)")}
			}
			if label != "" && label != "latest" {
				return UsageError{fmt.Errorf("--label %q: the only label is latest", label)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			e, err := c.Environment(cmd.Context(), g.ws(), name, version)
			if err != nil {
				return err
			}
			return g.print(e, func(w io.Writer) { printEnvironment(w, e) })
		},
	}
	cmd.Flags().StringVarP(&name, "name", "n", "", "environment name")
	cmd.Flags().StringVarP(&version, "version", "v", "", "version (default: the latest)")
	cmd.Flags().StringVarP(&label, "label", "l", "", "latest")
	return cmd
}

func printEnvironment(w io.Writer, e api.Environment) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\nversion:\t%s\n", e.Name, e.Version)
	if e.Description != "" {
		fmt.Fprintf(tw, "description:\t%s\n", e.Description)
	}
	if e.Image != "" {
		fmt.Fprintf(tw, "image:\t%s\n", e.Image)
	}
	if e.Build != nil {
		fmt.Fprintf(tw, "build context:\t%s (dockerfile %s)\n", e.Build.Path[:12], e.Build.DockerfilePath)
	}
	fmt.Fprintf(tw, "runs in image:\t%s\nbuilt:\t%s\ncontent hash:\t%s\ncreated:\t%s\n", e.RunImage, built(e), e.Hash, e.Created.Local().Format("2006-01-02 15:04:05"))
	tw.Flush()
	if e.CondaFile != "" {
		fmt.Fprintf(w, "conda file:\n%s", indent(e.CondaFile))
	}
}

func indent(s string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n")+"\n", "\n")
	return "  " + strings.Join(lines[:len(lines)-1], "  ")
}
