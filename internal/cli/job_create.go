package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/manifest"
	"github.com/trainyard/trainyard/internal/snapshot"
)

func newJobCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit training jobs and follow them",
		Example: `  trainyard job create -f examples/digits/job.yml --stream
  trainyard job submit --compute cpu-cluster --code . -- python train.py --epochs 3`,
	}
	cmd.AddCommand(newJobCreateCmd(g), newJobSubmitCmd(g), newJobListCmd(g), newJobShowCmd(g), newJobStreamCmd(g),
		newJobCancelCmd(g), newJobDownloadCmd(g), newJobMetricsCmd(g))
	return cmd
}

func newJobCreateCmd(g *globals) *cobra.Command {
	var file, name string
	var sets []string
	var stream bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Submit a job from an Azure ML v2 command-job YAML file",
		Long: `Submit a command job described by an Azure ML v2 YAML file. The code folder (code:, relative
to the file) is packed, honouring .amlignore (else .gitignore), and uploaded; literal inputs
replace ${{inputs.NAME}} in the command. --set overrides any key of the file.

compute: names a compute target, or is an inline compute spec (a mapping in the shape of a
compute YAML: type: amlcompute, size, max_instances, …): the job is then run-based, and the
server creates a cluster for it alone and deletes it when the job ends.`,
		Example: `  trainyard job create -f examples/digits/job.yml --stream
  trainyard job create -f job.yml --set inputs.epochs=5 --set compute=local
  trainyard job create -f job.yml --set compute.max_instances=2   # compute: an inline cluster spec`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return UsageError{errors.New("--file (-f) is required: the job's YAML file")}
			}
			data, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			if len(sets) > 0 {
				// Line numbers in later errors are then of the changed document.
				if data, err = manifest.Set(data, sets); err != nil {
					return fmt.Errorf("%s: --set: %w", file, err)
				}
			}
			// Other job types have other keys: say so before reporting those keys as unknown.
			var kind struct{ Type any }
			if yaml.Unmarshal(data, &kind) == nil && kind.Type != nil && kind.Type != "command" {
				return fmt.Errorf("%s: type %v: only command jobs are supported; sweep and pipeline jobs are not yet", file, kind.Type)
			}
			var spec api.JobSpec
			if err := manifest.Decode(data, &spec); err != nil {
				if len(sets) > 0 {
					return fmt.Errorf("%s with --set applied (lines are of the changed file): %w", file, err)
				}
				return fmt.Errorf("%s: %w", file, err)
			}
			if name != "" {
				spec.Name = name
			}
			base, _ := filepath.Abs(filepath.Dir(file))
			if spec.ExperimentName == "" {
				spec.ExperimentName = filepath.Base(base)
			}
			if spec.Code != "" && !filepath.IsAbs(spec.Code) {
				spec.Code = filepath.Join(base, spec.Code)
			}
			return g.submit(cmd.Context(), spec, base, stream)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&file, "file", "f", "", "the job's YAML file")
	f.StringVarP(&name, "name", "n", "", "job name (default: the file's name:, else generated)")
	f.StringArrayVar(&sets, "set", nil, "override a key: --set inputs.epochs=5")
	f.BoolVarP(&stream, "stream", "s", false, "follow the job's logs until it ends")
	return cmd
}

func newJobSubmitCmd(g *globals) *cobra.Command {
	var spec api.JobSpec
	var compute, code, timeout, environment string
	var envs []string
	var stream bool
	var maxRetries int
	cmd := &cobra.Command{
		Use:   "submit [flags] -- COMMAND [ARG...]",
		Short: "Submit a command as a job, without a YAML file",
		Example: `  trainyard job submit --compute cpu-cluster --code examples/digits --stream -- python3 train.py --epochs 5
  trainyard job submit --compute local -- nvidia-smi
  trainyard job submit --compute cpu-cluster --environment train-env@latest -- python3 -c 'import torch'`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec.Command = shellJoin(args)
			spec.Compute = api.Named(compute)
			if code != "" {
				spec.Code = code
			}
			if len(envs) > 0 {
				env, err := keyValues("--env", envs)
				if err != nil {
					return err
				}
				spec.EnvironmentVariables = env
			}
			if timeout != "" {
				d, err := api.ParseDuration(timeout)
				if err != nil {
					return UsageError{fmt.Errorf("--timeout: %w", err)}
				}
				spec.Limits = &api.Limits{Timeout: &api.Seconds{Duration: d}}
			}
			if environment != "" {
				spec.Environment = environment
			}
			if cmd.Flags().Changed("max-retries") {
				spec.MaxRetries = &maxRetries
			}
			wd, _ := os.Getwd()
			if spec.ExperimentName == "" {
				spec.ExperimentName = filepath.Base(wd)
			}
			return g.submit(cmd.Context(), spec, wd, stream)
		},
	}
	f := cmd.Flags()
	f.StringVar(&compute, "compute", "local", "compute target name, or local")
	f.StringVar(&code, "code", "", "folder to upload as the job's working directory")
	f.StringVar(&environment, "environment", "", "run in this environment's container: NAME:VERSION or NAME@latest (default: a process on the node)")
	f.StringVarP(&spec.Name, "name", "n", "", "job name (default: generated)")
	f.StringVar(&spec.ExperimentName, "experiment-name", "", "experiment (default: the current folder's name)")
	f.StringArrayVarP(&envs, "env", "e", nil, "environment variable KEY=VALUE")
	f.StringVar(&timeout, "timeout", "", "stop the job after this many seconds (or ISO-8601 like PT1H)")
	f.IntVar(&maxRetries, "max-retries", 3, "run the job again up to this many times after its node is preempted or lost (0: never)")
	f.BoolVar(&spec.RetryOnFailure, "retry-on-failure", false, "also run it again after its command fails")
	f.BoolVarP(&stream, "stream", "s", false, "follow the job's logs until it ends")
	return cmd
}

// shellJoin quotes args for bash -c, so `-- python -c 'print(1)'` runs as typed.
func shellJoin(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !strings.ContainsRune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%", r)
		}) < 0 {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}

// submit uploads the code folder named by spec.Code and the build folder of an inline
// environment (paths relative to base), creates the job, and streams it if asked.
func (g *globals) submit(ctx context.Context, spec api.JobSpec, base string, stream bool) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	if env, ok := spec.Environment.(map[string]any); spec.Code != "" || ok && env["build"] != nil {
		// Ask the server first, so that a job it would refuse uploads nothing.
		probe := spec
		if probe.Code != "" {
			probe.Code = strings.Repeat("0", 64)
		}
		if err := g.prepareJobEnvironment(ctx, c, &probe, base, true); err != nil {
			return err
		}
		if err := c.Do(ctx, "POST", "/v1/workspaces/"+url.PathEscape(g.ws())+"/jobs?validate=true", probe, nil); err != nil {
			return err
		}
	}
	if err := g.prepareJobEnvironment(ctx, c, &spec, base, false); err != nil {
		return err
	}
	if spec.Code != "" {
		id, err := upload(ctx, c, g, spec.Code, "code folder")
		if err != nil {
			return err
		}
		spec.Code = id
	}
	job, err := c.CreateJob(ctx, g.ws(), spec)
	if err != nil {
		return err
	}
	if !stream {
		return g.print(job, func(w io.Writer) {
			fmt.Fprintf(w, "job %s submitted to %s: %s\n", job.Name, job.Compute, job.Status)
			if job.RunBased {
				fmt.Fprintf(w, "compute %s is run-based: created for this job, deleted when it ends\n", job.Compute)
			}
			fmt.Fprintf(w, "follow it with: trainyard job stream --name %s\n", job.Name)
		})
	}
	fmt.Fprintf(g.stderr, "job %s submitted to %s\n", job.Name, job.Compute)
	if job.RunBased {
		fmt.Fprintf(g.stderr, "compute %s is run-based: created for this job, deleted when it ends\n", job.Compute)
	}
	return streamJob(ctx, c, g, job.Name)
}

// upload packs dir as a snapshot and uploads it, returning its ID; what names the folder's
// role in messages.
func upload(ctx context.Context, c *api.Client, g *globals, dir, what string) (string, error) {
	tmp, err := os.CreateTemp("", "trainyard-snapshot-*.tar.gz")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	st, err := snapshot.Create(dir, tmp, snapshot.DefaultLimits)
	if err != nil {
		return "", err
	}
	for _, s := range st.Skipped {
		fmt.Fprintf(g.stderr, "warning: left out of the %s: %s\n", what, s)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	start := time.Now()
	snap, err := c.UploadSnapshot(ctx, g.ws(), tmp)
	if err != nil {
		return "", fmt.Errorf("upload %s %s: %w", what, dir, err)
	}
	fmt.Fprintf(g.stderr, "uploaded %s %s: %d files, %.1f MB in %s\n", what, dir, st.Files, float64(st.Bytes)/1e6, time.Since(start).Round(time.Millisecond))
	return snap.ID, nil
}
