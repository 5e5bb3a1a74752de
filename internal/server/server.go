// Package server wires a trainyard server together: the store, the HTTP API, the autoscaler,
// the providers of each location, and the agent of the implicit local target. This file is the
// one place where every component, provider and loop can be found.
package server

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/agent"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/autoscale"
	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/process"
	"github.com/trainyard/trainyard/internal/imagebuild"
	"github.com/trainyard/trainyard/internal/provider"
	dockerprovider "github.com/trainyard/trainyard/internal/provider/docker"
	"github.com/trainyard/trainyard/internal/provider/local"
	"github.com/trainyard/trainyard/internal/quota"
	"github.com/trainyard/trainyard/internal/store"
	"github.com/trainyard/trainyard/python"
)

// Config is a server's configuration.
type Config struct {
	DataDir string // store, tokens, artifacts and local nodes live here
	Listen  string // host:port; port 0 picks a free one
	// AgentBinary is the trainyard binary that local nodes run; default: this program.
	AgentBinary string
	// AutoscaleInterval is how often every target is reconciled without a kick.
	AutoscaleInterval time.Duration
	// HeartbeatTimeout is how long a node may be silent before it is declared lost.
	HeartbeatTimeout time.Duration
	// CheckpointInterval is how often nodes send a job's checkpoint folder while it changes.
	CheckpointInterval time.Duration
	// Locations are where nodes come from; the first is the default. Empty means one
	// location "local" with the local provider and the built-in catalog.
	Locations []Location
	// RunJobsAs is the account jobs run as on this machine's nodes; "" is nobody when the
	// server runs as root, else the server's own account.
	RunJobsAs string
	Log       *slog.Logger
}

// DefaultConfig returns the defaults of `trainyard server`.
func DefaultConfig() Config {
	return Config{DataDir: api.DefaultDataDir(), Listen: "127.0.0.1:7878",
		AutoscaleInterval: 2 * time.Second, HeartbeatTimeout: 60 * time.Second, CheckpointInterval: 30 * time.Second}
}

// Run starts the server and blocks until ctx ends or a component fails. ready, if not nil,
// receives the server's URL once it listens.
func Run(ctx context.Context, cfg Config, ready func(url string)) error {
	log := cfg.Log
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	jobUser, err := agent.RunAs(cfg.RunJobsAs)
	if err != nil {
		return err
	}
	// Jobs of another account cannot pass the data dir's parents (often /root), so their
	// folders live in a root of their own under the temp dir: reachable (0711), not listable.
	jobsRoot := ""
	if jobUser != nil {
		sum := sha256.Sum256([]byte(cfg.DataDir))
		jobsRoot = filepath.Join(os.TempDir(), "trainyard-jobs-"+hex.EncodeToString(sum[:4]))
		if err := os.MkdirAll(jobsRoot, 0o711); err != nil {
			return fmt.Errorf("jobs dir: %w", err)
		}
		os.Chmod(jobsRoot, 0o711)
	}
	unlock, err := lockDataDir(cfg.DataDir)
	if err != nil {
		return err
	}
	defer unlock()
	db, err := store.Open(ctx, filepath.Join(cfg.DataDir, "trainyard.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	tokenPath, err := ensureAdminToken(ctx, db, cfg.DataDir)
	if err != nil {
		return err
	}
	ln, err := listen(cfg)
	if err != nil {
		return fmt.Errorf("listen on %s: %w (is another trainyard server running? pick another address with --listen)", cfg.Listen, err)
	}
	url := serverURL(cfg.Listen, ln.Addr())
	info, _ := json.Marshal(api.ServerInfo{URL: url, PID: os.Getpid()})
	if err := os.WriteFile(filepath.Join(cfg.DataDir, api.ServerInfoFile), info, 0o600); err != nil {
		return err
	}
	// The time the server was down is not held against its nodes.
	if err := db.TouchAll(ctx); err != nil {
		return err
	}
	// No operation stays InProgress for a compute that settled while the server was down.
	if n, err := db.SettleOperations(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("operations settled at start", "count", n)
	}
	bin := cfg.AgentBinary
	if bin == "" {
		if bin, err = os.Executable(); err != nil {
			return err
		}
	}
	if len(cfg.Locations) == 0 {
		cfg.Locations = DefaultLocations()
	}
	// The Docker engine, when one answers: image builds, container jobs, docker providers.
	docker := connectEngine(ctx, log)
	if docker != nil {
		defer docker.Close()
	}
	// Providers by location. Every provider kind a config may name is built here.
	sizes := map[string][]trainyard.VMSize{}
	locations := map[string]autoscale.Location{}
	for _, l := range cfg.Locations {
		sizes[l.Name] = l.Catalog()
		var p provider.Provider
		switch l.Provider {
		case "local":
			lp := &local.Provider{Dir: filepath.Join(cfg.DataDir, "nodes"), Binary: bin, JobsRoot: jobsRoot,
				Args: []string{"agent", "--run-as", runAsName(jobUser)}, Log: log}
			if l.Netns != "" { // ip execs the agent in the namespace, under the same process ID
				lp.Binary, lp.Args = "ip", append([]string{"netns", "exec", l.Netns, bin}, lp.Args...)
			}
			p = lp
		case "docker":
			if docker == nil {
				return fmt.Errorf("location %s: provider docker needs a Docker engine, and none answers: start dockerd (as root: scripts/dockerd.sh), or set DOCKER_HOST", l.Name)
			}
			p = &dockerprovider.Provider{Client: docker, Image: cmp.Or(l.NodeImage, DefaultNodeImage), Binary: bin,
				Dir: filepath.Join(cfg.DataDir, "docker-nodes"), Log: log}
		default:
			return fmt.Errorf("location %s: provider %q is not built into this server", l.Name, l.Provider)
		}
		locations[l.Name] = autoscale.Location{Provider: p, Sizes: sizes[l.Name], CapacityCores: l.CapacityCores, ServerURL: l.ServerURL}
	}
	limits := map[string]quota.Limits{}
	for _, l := range cfg.Locations {
		limits[l.Name] = l.Limits()
	}
	ledger := &quota.Ledger{Source: db, Defaults: func(loc string) quota.Limits { return limits[loc] },
		Sizes: func(loc string) []trainyard.VMSize { return sizes[loc] }}
	apiSrv := &apiserver.Server{Quota: ledger, CheckpointInterval: cfg.CheckpointInterval, HeartbeatTimeout: cfg.HeartbeatTimeout,
		Capacity: func(loc string) int { return locations[loc].CapacityCores },
		Store:    db, DataDir: cfg.DataDir, DefaultLocation: cfg.Locations[0].Name, Log: log.With("component", "api"),
		Sizes: func(loc string) ([]trainyard.VMSize, bool) { s, ok := sizes[loc]; return s, ok },
	}
	scaler := autoscale.New(autoscale.Config{
		State: db, Locations: locations, ServerURL: func() string { return url },
		Interval: cfg.AutoscaleInterval, HeartbeatTimeout: cfg.HeartbeatTimeout, Quota: ledger, Log: log,
	})
	apiSrv.Kick = scaler.Kick
	var builds *imagebuild.Loop
	if docker != nil {
		images := &imagebuild.Builder{Client: docker, Snapshot: apiSrv.SnapshotPath}
		wake := make(chan struct{}, 1)
		builds = &imagebuild.Loop{Queue: db, Images: images, LogDir: filepath.Join(cfg.DataDir, "builds"), Wake: wake,
			Queued: func() { scaler.Kick(); apiSrv.Notify() }, Log: log.With("component", "imagebuild")}
		apiSrv.Images = images
		apiSrv.Build = func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	}
	localToken, err := db.EnsureLocalNode(ctx)
	if err != nil {
		return err
	}
	localJobs := filepath.Join(cfg.DataDir, "local-node", "jobs")
	if jobsRoot != "" {
		localJobs = filepath.Join(jobsRoot, store.LocalNodeID)
	}
	helperDir, err := WriteHelper(filepath.Join(filepath.Dir(localJobs), "python-"+filepath.Base(localJobs)))
	if err != nil {
		return err
	}
	var containers driver.Driver
	if docker != nil {
		containers = nodeDriver(docker, store.LocalNodeID, log.With("component", "local-agent"))
	}
	self, _ := os.Executable() // the launchers of distributed jobs are trainyard's own
	localAgent := agent.New(agent.Config{ServerURL: url, NodeID: store.LocalNodeID, NodeToken: localToken,
		WorkDir: filepath.Join(cfg.DataDir, "local-node"), JobsDir: localJobs, Address: "127.0.0.1", Driver: process.New(), Containers: containers,
		HelperDir: helperDir, User: jobUser, Binary: self, Log: log.With("component", "local-agent")})

	g, gctx := errgroup.WithContext(ctx)
	// Requests end with the server, so long polls do not hold up a shutdown.
	srv := &http.Server{Handler: apiSrv.Handler(), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return gctx }}
	g.Go(func() error {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		return nil
	})
	g.Go(func() error { return scaler.Run(gctx) })
	g.Go(func() error { return localAgent.Run(gctx) })
	if builds != nil {
		g.Go(func() error { builds.Run(gctx); return nil })
	}
	log.Info("trainyard server listening", "url", url, "data_dir", cfg.DataDir, "admin_token_file", tokenPath)
	if ready != nil {
		ready(url)
	}
	return g.Wait()
}

// lockDataDir makes sure one server at a time uses a data dir: a second one would take its
// nodes and jobs from under the first.
func lockDataDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "server.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(f.Name())
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another trainyard server (pid %s); stop it, or give this one its own --data-dir", dir, strings.TrimSpace(string(b)))
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() { f.Close() }, nil
}

// listen opens the server's address. With port 0 it first tries the address of the previous run
// in the same data dir: nodes and running jobs were told that URL and keep using it.
func listen(cfg Config) (net.Listener, error) {
	if host, port, err := net.SplitHostPort(cfg.Listen); err == nil && port == "0" {
		var prev api.ServerInfo
		if b, err := os.ReadFile(filepath.Join(cfg.DataDir, api.ServerInfoFile)); err == nil && json.Unmarshal(b, &prev) == nil {
			if addr := strings.TrimPrefix(prev.URL, "http://"); strings.HasPrefix(addr, host+":") {
				ln, err := net.Listen("tcp", addr)
				if err == nil {
					return ln, nil
				}
				slog.Warn("the previous address of this data dir is taken; nodes and jobs started before will not find the server until it listens there again",
					"address", addr, "err", err)
			}
		}
	}
	return net.Listen("tcp", cfg.Listen)
}

// ensureAdminToken makes sure an admin token exists and is in the token file, and returns
// the file's path. A token file that the store does not know (a new database) is re-adopted.
func ensureAdminToken(ctx context.Context, db *store.DB, dir string) (string, error) {
	path := filepath.Join(dir, api.AdminTokenFile)
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		if p, err := db.Authenticate(ctx, tok); err == nil && p.Kind == store.KindAdmin {
			return path, nil
		}
		return path, db.ReplaceAdmin(ctx, tok)
	}
	tok := store.NewToken("tya")
	if err := db.ReplaceAdmin(ctx, tok); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", err
	}
	slog.Info("created an admin token; the CLI on this machine finds it by itself", "file", path)
	return path, nil
}

// runAsName names the account of u for an agent's --run-as; nil is the server's own.
func runAsName(u *driver.User) string {
	if u != nil {
		return u.Name
	}
	if me, err := user.Current(); err == nil {
		return me.Username
	}
	return ""
}

// WriteHelper writes the Python helper that jobs import (trainyard_run) into dir and returns
// dir, which agents put on the jobs' PYTHONPATH.
func WriteHelper(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	return dir, os.WriteFile(filepath.Join(dir, "trainyard_run.py"), python.RunHelper, 0o644)
}

// serverURL is the URL of the server listening at addr, asked for as listen: an IPv6
// link-local host keeps its zone (the interface), which the listener's address drops.
func serverURL(listen string, addr net.Addr) string {
	host, _, err := net.SplitHostPort(listen)
	tcp, ok := addr.(*net.TCPAddr)
	if err != nil || !ok || !strings.Contains(host, "%") {
		return "http://" + addr.String()
	}
	return "http://" + strings.Replace(net.JoinHostPort(host, strconv.Itoa(tcp.Port)), "%", "%25", 1)
}
