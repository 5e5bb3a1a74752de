package docker

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/driver"
)

// baseSpec is the spec the config tests edit.
func baseSpec() driver.TaskSpec {
	return driver.TaskSpec{
		ID:       "t-42",
		Command:  "python train.py",
		Dir:      "/srv/trainyard/jobs/42/code",
		LogPath:  "/srv/trainyard/jobs/42/log",
		StateDir: "/srv/trainyard/jobs/42/state",
		Env:      map[string]string{"TRAINYARD_JOB": "42"},
	}
}

// baseWant is the container for baseSpec on a driver named node-1 with no settings.
func baseWant() client.ContainerCreateOptions {
	dir := "/srv/trainyard/jobs/42/code"
	return client.ContainerCreateOptions{
		Name: "trainyard-node-1-t-42",
		Config: &container.Config{
			Image:      "trainyard/base:bookworm-1",
			Entrypoint: []string{"/bin/sh", "-c", wrapper, "python train.py"},
			WorkingDir: dir,
			Env:        []string{"TINI_KILL_PROCESS_GROUP=1", "TRAINYARD_JOB=42"},
			Labels:     map[string]string{"trainyard.task": "t-42", "trainyard.driver": "node-1"},
		},
		HostConfig: &container.HostConfig{
			NetworkMode: "host",
			Init:        ptr(true),
			LogConfig:   container.LogConfig{Type: "json-file"},
			Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: dir, Target: dir}},
			ShmSize:     2 << 30,
			CapDrop:     []string{"NET_RAW"},
		},
	}
}

func TestCreateOptions(t *testing.T) {
	tests := []struct {
		name   string
		driver Driver                                 // Name is node-1 unless set
		spec   func(s *driver.TaskSpec)               // edits baseSpec
		want   func(o *client.ContainerCreateOptions) // edits baseWant
	}{
		{name: "defaults: 2 GiB of shm, host network, the code folder mounted read-write"},
		{
			name: "shm size from the spec",
			spec: func(s *driver.TaskSpec) { s.ShmSize = 1 << 30 },
			want: func(o *client.ContainerCreateOptions) { o.HostConfig.ShmSize = 1 << 30 },
		},
		{
			name: "docker args' shm size wins over the spec's",
			spec: func(s *driver.TaskSpec) { s.ShmSize = 1 << 30; s.DockerArgs = "--shm-size=16g" },
			want: func(o *client.ContainerCreateOptions) { o.HostConfig.ShmSize = 16 << 30 },
		},
		{
			name: "docker args applied",
			spec: func(s *driver.TaskSpec) {
				s.Env["SHARED"] = "from spec"
				s.DockerArgs = "--ipc=host --cap-add IPC_LOCK --cap-drop MKNOD --ulimit memlock=-1:-1 " +
					"--security-opt seccomp=unconfined -e NCCL_DEBUG=INFO -e SHARED=from-args --pids-limit 4096 " +
					"--init --device /dev/infiniband/uverbs0 --tmpfs /scratch:size=1g"
			},
			want: func(o *client.ContainerCreateOptions) {
				o.Config.Env = []string{"NCCL_DEBUG=INFO", "SHARED=from spec", "TINI_KILL_PROCESS_GROUP=1", "TRAINYARD_JOB=42"}
				h := o.HostConfig
				h.IpcMode = "host"
				h.CapAdd = []string{"IPC_LOCK"}
				h.CapDrop = []string{"NET_RAW", "MKNOD"}
				h.Ulimits = []*container.Ulimit{{Name: "memlock", Soft: -1, Hard: -1}}
				h.SecurityOpt = []string{"seccomp=unconfined"}
				h.PidsLimit = ptr(int64(4096))
				h.Devices = []container.DeviceMapping{{
					PathOnHost: "/dev/infiniband/uverbs0", PathInContainer: "/dev/infiniband/uverbs0", CgroupPermissions: "rwm",
				}}
				h.Tmpfs = map[string]string{"/scratch": "size=1g"}
			},
		},
		{
			name:   "GPUs and limits",
			driver: Driver{GPUs: 8, NanoCPUs: 4e9, MemoryBytes: 64 << 30},
			want: func(o *client.ContainerCreateOptions) {
				o.HostConfig.DeviceRequests = []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}
				o.HostConfig.NanoCPUs = 4e9
				o.HostConfig.Memory = 64 << 30
			},
		},
		{
			name: "the spec's user runs the command",
			spec: func(s *driver.TaskSpec) { s.User = &driver.User{Name: "job", UID: 1000, GID: 1001} },
			want: func(o *client.ContainerCreateOptions) { o.Config.User = "1000:1001" },
		},
		{
			name: "docker args' user wins over the spec's",
			spec: func(s *driver.TaskSpec) {
				s.User = &driver.User{Name: "job", UID: 1000, GID: 1001}
				s.DockerArgs = "--user 0:0"
			},
			want: func(o *client.ContainerCreateOptions) { o.Config.User = "0:0" },
		},
		{
			name: "read-only folders at their own paths",
			spec: func(s *driver.TaskSpec) { s.ReadOnly = []string{"/opt/trainyard/python", "/data/imagenet"} },
			want: func(o *client.ContainerCreateOptions) {
				o.HostConfig.Mounts = append(o.HostConfig.Mounts,
					mount.Mount{Type: mount.TypeBind, Source: "/opt/trainyard/python", Target: "/opt/trainyard/python", ReadOnly: true},
					mount.Mount{Type: mount.TypeBind, Source: "/data/imagenet", Target: "/data/imagenet", ReadOnly: true})
			},
		},
		{
			name:   "joining a node container's network",
			driver: Driver{Network: "container:node-1"},
			want:   func(o *client.ContainerCreateOptions) { o.HostConfig.NetworkMode = "container:node-1" },
		},
		{
			name:   "the image the spec names",
			driver: Driver{DefaultImage: "ignored:1"},
			spec:   func(s *driver.TaskSpec) { s.Image = "trainyard/base:bookworm-1" },
		},
		{
			name:   "names made safe for docker",
			driver: Driver{Name: "node/1 a"},
			spec:   func(s *driver.TaskSpec) { s.ID = "job:7" },
			want: func(o *client.ContainerCreateOptions) {
				o.Name = "trainyard-node-1-a-job-7"
				o.Config.Labels = map[string]string{"trainyard.task": "job:7", "trainyard.driver": "node/1 a"}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.driver
			if d.Name == "" {
				d.Name = "node-1"
			}
			spec := baseSpec()
			if tt.spec != nil {
				tt.spec(&spec)
			}
			image := spec.Image
			if image == "" {
				image = "trainyard/base:bookworm-1"
			}
			got, err := d.createOptions(spec, image)
			if err != nil {
				t.Fatalf("createOptions() error: %v", err)
			}
			want := baseWant()
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("createOptions() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCreateOptionsErrors(t *testing.T) {
	tests := []struct {
		name string
		spec func(s *driver.TaskSpec)
		want string // in the error
	}{
		{
			name: "a refused docker arg",
			spec: func(s *driver.TaskSpec) { s.DockerArgs = "--network bridge" },
			want: "resources.docker_args: --network is not allowed: the node decides the network",
		},
		{
			name: "a relative working dir",
			spec: func(s *driver.TaskSpec) { s.Dir = "code" },
			want: `working dir "code" is not an absolute path`,
		},
		{
			name: "a relative read-only folder",
			spec: func(s *driver.TaskSpec) { s.ReadOnly = []string{"python"} },
			want: `read-only folder "python" is not an absolute path`,
		},
		{
			name: "a bad variable name",
			spec: func(s *driver.TaskSpec) { s.Env["A=B"] = "c" },
			want: `env: bad variable name "A=B"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := baseSpec()
			tt.spec(&spec)
			d := Driver{Name: "node-1"}
			if _, err := d.createOptions(spec, "trainyard/base:bookworm-1"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("createOptions() error = %v, want one with %q", err, tt.want)
			}
		})
	}
}

func TestExitFromCode(t *testing.T) {
	tests := []struct {
		code int
		want driver.Exit
	}{
		{0, driver.Exit{}},
		{3, driver.Exit{Code: 3}},
		{128, driver.Exit{Code: 128}},
		{137, driver.Exit{Code: -1, Signal: 9}},  // SIGKILL: Stop after the grace, or the OOM killer
		{143, driver.Exit{Code: -1, Signal: 15}}, // SIGTERM
		{255, driver.Exit{Code: 255}},
	}
	for _, tt := range tests {
		if got := exitFromCode(tt.code); got != tt.want {
			t.Errorf("exitFromCode(%d) = %+v, want %+v", tt.code, got, tt.want)
		}
	}
}
