package docker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/driver"
	"github.com/trainyard/trainyard/internal/driver/docker"
	"github.com/trainyard/trainyard/internal/engine"
	"github.com/trainyard/trainyard/internal/engine/enginetest"
)

const waitTimeout = 30 * time.Second

// helperEnv, when set to a JSON TaskSpec, makes the test binary start that task, stay until its
// log holds "before", and exit: an agent that dies and leaves its task to another process.
const helperEnv = "TRAINYARD_DOCKER_TEST_START"

func TestMain(m *testing.M) {
	if s := os.Getenv(helperEnv); s != "" {
		os.Exit(startAndExit(s))
	}
	os.Exit(m.Run())
}

func startAndExit(specJSON string) int {
	var spec driver.TaskSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx := context.Background()
	c, err := engine.Connect(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := newDriver(c).Start(ctx, spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for deadline := time.Now().Add(waitTimeout); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(spec.LogPath); strings.Contains(string(b), "before") {
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "the task never wrote before")
	return 1
}

func newDriver(c *client.Client) *docker.Driver {
	return &docker.Driver{Client: c, Name: "enginetest", DefaultImage: testImage}
}

// newSpec is a spec for command in fresh directories.
func newSpec(t *testing.T, command string) driver.TaskSpec {
	t.Helper()
	root := t.TempDir()
	spec := driver.TaskSpec{
		ID:       "engine-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()),
		Command:  command,
		Dir:      filepath.Join(root, "work"),
		LogPath:  filepath.Join(root, "task.log"),
		StateDir: filepath.Join(root, "state"),
	}
	if err := os.Mkdir(spec.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return spec
}

// run runs spec to its end and returns its log.
func run(t *testing.T, d *docker.Driver, spec driver.TaskSpec) (driver.Exit, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	task, err := d.Start(ctx, spec)
	if err != nil {
		t.Fatalf("Start() error: %v", err)
	}
	t.Cleanup(func() { _ = task.Stop(context.Background(), 0) })
	exit, err := task.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait() error: %v", err)
	}
	b, err := os.ReadFile(spec.LogPath)
	if err != nil {
		t.Fatal(err)
	}
	return exit, string(b)
}

func TestShmSize(t *testing.T) {
	c := enginetest.Client(t)
	enginetest.Image(t, testImage)
	tests := []struct {
		name       string
		shmSize    int64
		dockerArgs string
		want       int64
	}{
		{name: "default", want: 2 << 30},
		{name: "from the spec", shmSize: 1 << 30, want: 1 << 30},
		{name: "docker args win", shmSize: 1 << 30, dockerArgs: "--shm-size=512m", want: 512 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, `echo $(( $(stat -f -c '%b * %S' /dev/shm) ))`)
			spec.ShmSize, spec.DockerArgs = tt.shmSize, tt.dockerArgs
			exit, log := run(t, newDriver(c), spec)
			if exit != (driver.Exit{}) {
				t.Fatalf("Wait() = %+v, want success; log:\n%s", exit, log)
			}
			if got, want := strings.TrimSpace(log), fmt.Sprint(tt.want); got != want {
				t.Errorf("size of /dev/shm = %s bytes, want %s", got, want)
			}
		})
	}
}

// TestSeenInside checks that docker args and the spec's user reach the command.
func TestSeenInside(t *testing.T) {
	c := enginetest.Client(t)
	enginetest.Image(t, testImage)
	tests := []struct {
		name    string
		edit    func(s *driver.TaskSpec)
		command string
		want    string
	}{
		{
			name:    "ulimit",
			edit:    func(s *driver.TaskSpec) { s.DockerArgs = "--ulimit nofile=1024:2048" },
			command: "ulimit -n; ulimit -Hn",
			want:    "1024\n2048\n",
		},
		{
			name: "env from args, the spec's winning",
			edit: func(s *driver.TaskSpec) {
				s.DockerArgs = `-e 'GREETING=hello there' --env WHO=args`
				s.Env = map[string]string{"WHO": "spec"}
			},
			command: `echo "$GREETING, $WHO"; echo "${TINI_KILL_PROCESS_GROUP-unset}"; echo "$PATH"`,
			want:    "hello there, spec\nunset\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n",
		},
		{
			name:    "tmpfs",
			edit:    func(s *driver.TaskSpec) { s.DockerArgs = "--tmpfs /scratch:size=1m" },
			command: `echo $(( $(stat -f -c '%b * %S' /scratch) )); stat -f -c %T /scratch`,
			want:    "1048576\ntmpfs\n",
		},
		{
			name:    "user",
			edit:    func(s *driver.TaskSpec) { s.User = &driver.User{Name: "job", UID: 4242, GID: 4343} },
			command: "id -u; id -g",
			want:    "4242\n4343\n",
		},
		{
			// On the node's network a root job could read the tokens that cross it: no raw sockets.
			name:    "root without raw sockets",
			edit:    func(s *driver.TaskSpec) { s.DockerArgs = "--user 0" },
			command: `id -u; python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)' 2>&1 | tail -1`,
			want:    "0\nPermissionError: [Errno 1] Operation not permitted\n",
		},
		{
			name:    "ipc host",
			edit:    func(s *driver.TaskSpec) { s.DockerArgs = "--ipc host" },
			command: "readlink /proc/self/ns/ipc",
			want:    hostIPC(t) + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spec := newSpec(t, tt.command)
			tt.edit(&spec)
			exit, log := run(t, newDriver(c), spec)
			if exit != (driver.Exit{}) {
				t.Fatalf("Wait() = %+v, want success; log:\n%s", exit, log)
			}
			if log != tt.want {
				t.Errorf("log = %q, want %q", log, tt.want)
			}
		})
	}
}

func hostIPC(t *testing.T) string {
	ns, err := os.Readlink("/proc/self/ns/ipc")
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func TestReadOnlyFolder(t *testing.T) {
	c := enginetest.Client(t)
	enginetest.Image(t, testImage)
	ro := t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "helper.py"), []byte("print('helped')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := newSpec(t, fmt.Sprintf("python3 %s/helper.py; touch %s/new 2>/dev/null || echo read-only; touch made", ro, ro))
	spec.ReadOnly = []string{ro}
	exit, log := run(t, newDriver(c), spec)
	if exit != (driver.Exit{}) {
		t.Fatalf("Wait() = %+v, want success; log:\n%s", exit, log)
	}
	if want := "helped\nread-only\n"; log != want {
		t.Errorf("log = %q, want %q", log, want)
	}
	if _, err := os.Stat(filepath.Join(spec.Dir, "made")); err != nil {
		t.Errorf("the working dir is not writable: %v", err)
	}
}

func TestStartMissingImage(t *testing.T) {
	c := enginetest.Client(t)
	spec := newSpec(t, "true")
	spec.Image = "trainyard/never-built:0"
	task, err := newDriver(c).Start(t.Context(), spec)
	if err == nil {
		_ = task.Stop(t.Context(), 0)
		t.Fatal("Start with a missing image: no error")
	}
	for _, want := range []string{"trainyard/never-built:0", "does not exist locally", "never pulls", "make images"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Start error %q does not say %q", err, want)
		}
	}
}

// TestReattachAfterAgentExit plays a real agent restart: another process starts the task and
// exits while it runs; output written while no agent watches reaches the log once, after what
// the log held before the task.
func TestReattachAfterAgentExit(t *testing.T) {
	c := enginetest.Client(t)
	enginetest.Image(t, testImage)
	spec := newSpec(t, "echo before; while [ ! -e go ]; do sleep 0.02; done; echo away; touch away.done; "+
		"while [ ! -e release ]; do sleep 0.02; done; echo after; exit 7")
	t.Cleanup(func() { // whatever happens, leave no container behind
		_, _ = c.ContainerRemove(context.Background(), "trainyard-enginetest-"+spec.ID, client.ContainerRemoveOptions{Force: true})
	})
	if err := os.WriteFile(spec.LogPath, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	agent := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^$")
	agent.Env = append(os.Environ(), helperEnv+"="+string(specJSON))
	if out, err := agent.CombinedOutput(); err != nil {
		t.Fatalf("the first agent: %v\n%s", err, out)
	}

	touch(t, spec.Dir, "go")
	awaitFile(t, filepath.Join(spec.Dir, "away.done"))
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	task, err := newDriver(c).Reattach(ctx, spec)
	if err != nil {
		t.Fatalf("Reattach() error: %v", err)
	}
	touch(t, spec.Dir, "release")
	if exit, err := task.Wait(ctx); err != nil || exit != (driver.Exit{Code: 7}) {
		t.Errorf("Wait() = %+v, %v; want exit 7", exit, err)
	}
	b, _ := os.ReadFile(spec.LogPath)
	if got, want := string(b), "earlier\nbefore\naway\nafter\n"; got != want {
		t.Errorf("log = %q, want %q", got, want)
	}
	if _, err := c.ContainerInspect(ctx, "trainyard-enginetest-"+spec.ID, client.ContainerInspectOptions{}); !engine.IsNotFound(err) {
		t.Errorf("the container outlived its recorded exit: inspect error %v", err)
	}
}

// TestReattachContainerGone checks that a task whose container vanished before its exit was
// recorded is reported lost, not running and not not-found.
func TestReattachContainerGone(t *testing.T) {
	c := enginetest.Client(t)
	spec := newSpec(t, "sleep 60")
	if err := os.MkdirAll(spec.StateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	record := `{"container": "trainyard-enginetest-never-created", "log_offset": 0}`
	if err := os.WriteFile(filepath.Join(spec.StateDir, "container"), []byte(record), 0o644); err != nil {
		t.Fatal(err)
	}
	task, err := newDriver(c).Reattach(t.Context(), spec)
	if err != nil {
		t.Fatalf("Reattach() error: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	defer cancel()
	if exit, err := task.Wait(ctx); err != nil || exit != (driver.Exit{Lost: true}) {
		t.Errorf("Wait() = %+v, %v; want lost", exit, err)
	}
	if err := task.Stop(ctx, time.Second); err != nil {
		t.Errorf("Stop() of a lost task: %v", err)
	}
}

func touch(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
		t.Fatal(err)
	}
}

func awaitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never appeared", path)
		}
	}
}
