package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/agent"
	"github.com/trainyard/trainyard/internal/cli"
	"github.com/trainyard/trainyard/internal/driver/process"
	"github.com/trainyard/trainyard/internal/launch"
	"github.com/trainyard/trainyard/internal/mpirelay"
	"github.com/trainyard/trainyard/internal/server"
)

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, cli.UsageError{Err: fmt.Errorf("--log-level %q: choose debug, info, warn or error", level)}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}

func newServerCmd() *cobra.Command {
	cfg := server.DefaultConfig()
	var level, config string
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the trainyard server",
		Long: `Run the trainyard server: the API, the embedded SQLite store, the autoscaler and the
local node provider. On first start it creates an admin token in the data dir; the CLI on the
same machine finds the server and the token by itself.`,
		Example: `  trainyard server
  trainyard server --data-dir /srv/trainyard --listen 127.0.0.1:9000
  trainyard server --config /etc/trainyard/server.yml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			slog.SetDefault(log)
			cfg.Log = log
			if config != "" {
				file, err := server.ReadConfigFile(config)
				if err != nil {
					return err
				}
				cfg.Locations = file.Locations
				// Flags given on the command line win over the file.
				if file.Listen != "" && !cmd.Flags().Changed("listen") {
					cfg.Listen = file.Listen
				}
				if file.DataDir != "" && !cmd.Flags().Changed("data-dir") {
					cfg.DataDir = file.DataDir
				}
			}
			dir, err := filepath.Abs(cfg.DataDir)
			if err != nil {
				return err
			}
			cfg.DataDir = dir
			return server.Run(cmd.Context(), cfg, func(url string) {
				fmt.Fprintf(cmd.ErrOrStderr(), "trainyard server listening on %s\nadmin token: %s\n", url,
					filepath.Join(dir, api.AdminTokenFile))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "where the store, tokens, artifacts and local nodes live")
	f.StringVar(&cfg.Listen, "listen", cfg.Listen, "address to listen on")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	f.StringVar(&cfg.RunJobsAs, "run-jobs-as", "", "the account jobs run as on local nodes (default: nobody when the server runs as root)")
	f.DurationVar(&cfg.HeartbeatTimeout, "heartbeat-timeout", cfg.HeartbeatTimeout, "how long a node may be silent before it is lost and its jobs run again elsewhere")
	f.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", cfg.CheckpointInterval, "how often nodes send a job's $TRAINYARD_CHECKPOINT_DIR to the server while it changes")
	f.StringVar(&config, "config", "", "a YAML file with listen, data_dir and locations (their providers, VM sizes and quotas)")
	return cmd
}

func newAgentCmd() *cobra.Command {
	cfg := agent.Config{}
	var level, runAs string
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run a node's agent (started by a node provider)",
		Long: `Run the agent of one node: it registers with the server using the one-time join token
in $TRAINYARD_JOIN_TOKEN, then runs the jobs the server places on the node. Node providers start
it; you rarely run it by hand.`,
		Example: `  TRAINYARD_JOIN_TOKEN=tyj_... trainyard agent --server http://127.0.0.1:7878 --node-id cpu-cluster-a1b2 --work-dir /var/lib/trainyard-node`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := newLogger(level)
			if err != nil {
				return err
			}
			if cfg.ServerURL == "" || cfg.NodeID == "" || cfg.WorkDir == "" {
				return cli.UsageError{Err: errors.New("--server, --node-id and --work-dir are required")}
			}
			cfg.JoinToken = strings.TrimSpace(os.Getenv("TRAINYARD_JOIN_TOKEN"))
			os.Unsetenv("TRAINYARD_JOIN_TOKEN")
			// The helper lies where the jobs' own account can read it.
			helper := filepath.Join(cfg.WorkDir, "python")
			if cfg.JobsDir != "" {
				helper = filepath.Join(cfg.JobsDir, ".python")
			}
			if cfg.HelperDir, err = server.WriteHelper(helper); err != nil {
				return err
			}
			if cfg.User, err = agent.RunAs(runAs); err != nil {
				return err
			}
			cfg.Binary, _ = os.Executable()
			cfg.HostBinary = os.Getenv("TRAINYARD_HOST_BINARY")
			cfg.Driver = process.New()
			cfg.Containers = server.ContainerDriver(cmd.Context(), cfg.NodeID, log)
			cfg.Log = log
			err = agent.New(cfg).Run(cmd.Context())
			if errors.Is(err, agent.ErrReleased) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.ServerURL, "server", "", "the server's URL")
	f.StringVar(&cfg.NodeID, "node-id", "", "this node's ID, as the server named it")
	f.StringVar(&cfg.WorkDir, "work-dir", "", "the node's own folder for jobs and its token")
	f.StringVar(&cfg.Address, "address", "127.0.0.1", "the address other nodes reach this one at")
	f.StringVar(&cfg.JobsDir, "jobs-dir", "", "where job folders go (default: WORK_DIR/jobs); jobs running as another user must be able to reach it")
	f.StringVar(&runAs, "run-as", "", "the account jobs run as (default: nobody when the agent runs as root, else the agent's own)")
	f.DurationVar(&cfg.GiveUpAfter, "give-up-after", 30*time.Minute, "exit when idle and the server has not answered for this long (0: never)")
	f.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	cmd.AddCommand(newMPIRshCmd(), newMPIWorkerCmd(), newLaunchCmd())
	return cmd
}

// newMPIRshCmd is mpirun's remote shell on rank 0 of an mpi job: it runs a command on the
// relay of another rank, named rankN in $TRAINYARD_MPI_HOSTS.
func newMPIRshCmd() *cobra.Command {
	return &cobra.Command{
		Use: "mpi-rsh HOST COMMAND...", Hidden: true, Args: cobra.MinimumNArgs(2),
		Short:              "Run a command on another rank of an mpi job (mpirun's remote shell)",
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			addr := ""
			for _, h := range strings.Split(os.Getenv("TRAINYARD_MPI_HOSTS"), ",") {
				if name, a, ok := strings.Cut(h, "="); ok && name == args[0] {
					addr = a
				}
			}
			if addr == "" {
				return fmt.Errorf("mpi-rsh: host %q is no rank of this job ($TRAINYARD_MPI_HOSTS)", args[0])
			}
			var status int
			var err error
			for try := 0; try < 100; try++ { // the rank's relay may still be starting
				if status, err = mpirelay.Dial(addr, os.Getenv("TRAINYARD_MPI_SECRET"), strings.Join(args[1:], " "), os.Stdout, os.Stderr); err == nil || !isRefused(err) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil {
				return err
			}
			os.Exit(status)
			return nil
		},
	}
}

func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

// newLaunchCmd starts the processes of one node of a pytorch job with several per node.
func newLaunchCmd() *cobra.Command {
	var procs, first int
	cmd := &cobra.Command{
		Use: "launch --procs N --first-rank R -- COMMAND", Hidden: true, Args: cobra.ExactArgs(1),
		Short: "Start a node's processes of a multi-process job",
		Run: func(cmd *cobra.Command, args []string) {
			os.Exit(launch.Run(args[0], procs, first, os.Stdout))
		},
	}
	cmd.Flags().IntVar(&procs, "procs", 1, "processes to start")
	cmd.Flags().IntVar(&first, "first-rank", 0, "the global rank of the first")
	return cmd
}

// newMPIWorkerCmd is what the ranks above 0 of an mpi job run: the relay's listener.
func newMPIWorkerCmd() *cobra.Command {
	var listen string
	cmd := &cobra.Command{
		Use: "mpi-worker --listen ADDR:PORT", Hidden: true, Args: cobra.NoArgs,
		Short: "Serve mpirun's remote commands on a rank of an mpi job",
		RunE: func(cmd *cobra.Command, args []string) error {
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			if err := mpirelay.BecomeSubreaper(); err != nil {
				return fmt.Errorf("mpi-worker: become the reaper of the job's daemons: %w", err)
			}
			dir, _ := os.Getwd()
			// Longer than mpirun gives its processes (3 s), and less than the agent's grace
			// (10 s), so the relay is done before it is killed.
			return mpirelay.Serve(cmd.Context(), ln, os.Getenv("TRAINYARD_MPI_SECRET"), dir, 5*time.Second)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "", "the address to listen on")
	return cmd
}
