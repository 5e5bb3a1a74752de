package docker

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/trainyard/trainyard/internal/dockerargs"
	"github.com/trainyard/trainyard/internal/driver"
)

// DefaultShmSize is the size of a task's /dev/shm when neither the spec nor its docker args
// give one: Azure ML's default, which PyTorch data loaders need far more than docker's 64 MiB.
const DefaultShmSize = 2 << 30

// wrapper is the container's main command, run as
//
//	/bin/sh -c wrapper COMMAND
//
// under docker's init (tini), which TINI_KILL_PROCESS_GROUP makes forward signals to the
// wrapper's whole process group: Stop's SIGTERM reaches the command and everything it started,
// as the process driver's does. The wrapper survives SIGTERM itself so that it can exit with
// the command's status (bash reports death by signal N as 128+N), and runs the command with
// bash where the image has it, else sh. The command's stderr is its stdout: the engine copies
// the two streams apart and loses their order, which the log must keep. The wrapper's own
// stderr is /dev/null, so a shell's "Killed" report does not reach the log.
//
// When the command has exited, processes it left running die with the container; they are
// first given up to a quarter second, so that a child forked just before the command exited is
// not killed while it starts (the process driver leaves the same moment while it records the
// status). /proc lists only the container's processes: tini is 1, the wrapper is $$.
const wrapper = `unset TINI_KILL_PROCESS_GROUP
trap : TERM INT HUP
exec 2>/dev/null
if command -v bash >/dev/null 2>&1; then bash -c "$0" 2>&1; else sh -c "$0" 2>&1; fi
s=$?
trap 'exit "$s"' TERM INT HUP
i=0
while [ "$i" -lt 5 ]; do
	left=
	for p in /proc/[0-9]*; do case ${p#/proc/} in 1|$$) ;; *) left=1; break ;; esac; done
	[ -n "$left" ] || break
	sleep 0.05
	i=$((i+1))
done
exit "$s"
`

// Labels on every task container.
const (
	labelTask = "trainyard.task"
	// LabelDriver is the Driver's Name, the node's ID: a node's provider finds by it the task
	// containers a lost node left behind.
	LabelDriver = "trainyard.driver"
)

// containerName is the name of spec's container on this node: "trainyard-NAME-ID", with every
// character docker does not allow in a name replaced by '-'.
func (d *Driver) containerName(id string) string {
	name := "trainyard-" + id
	if d.Name != "" {
		name = "trainyard-" + d.Name + "-" + id
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '.', r == '-':
			return r
		}
		return '-'
	}, name)
}

// createOptions is the container for spec, running image. It touches neither the engine nor
// the disk: Start checks that the image and the folders exist.
func (d *Driver) createOptions(spec driver.TaskSpec, image string) (client.ContainerCreateOptions, error) {
	args, err := dockerargs.Parse(spec.DockerArgs)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	if !filepath.IsAbs(spec.Dir) {
		return client.ContainerCreateOptions{}, fmt.Errorf("working dir %q is not an absolute path", spec.Dir)
	}
	env, err := containerEnv(args.Env, spec.Env)
	if err != nil {
		return client.ContainerCreateOptions{}, err
	}
	user := args.User
	if user == "" && spec.User != nil {
		user = fmt.Sprintf("%d:%d", spec.User.UID, spec.User.GID)
	}
	network := d.Network
	if network == "" {
		network = "host"
	}

	cfg := &container.Config{
		Image:      image,
		Entrypoint: []string{"/bin/sh", "-c", wrapper, spec.Command},
		WorkingDir: spec.Dir,
		Env:        env,
		User:       user,
		Labels:     map[string]string{labelTask: spec.ID, LabelDriver: d.Name},
	}
	host := &container.HostConfig{
		NetworkMode: container.NetworkMode(network),
		Init:        ptr(true),
		LogConfig:   container.LogConfig{Type: "json-file"}, // the driver reads the log back
		Mounts:      []mount.Mount{{Type: mount.TypeBind, Source: spec.Dir, Target: spec.Dir}},
		ShmSize:     DefaultShmSize,
		IpcMode:     container.IpcMode(args.IPC),
		CapAdd:      args.CapAdd,
		CapDrop:     args.CapDrop,
		SecurityOpt: args.SecurityOpt,
		Tmpfs:       args.Tmpfs,
	}
	// Job containers share their node's network: a job running as root must not capture the
	// tokens that cross it.
	if !slices.Contains(host.CapDrop, "NET_RAW") {
		host.CapDrop = append([]string{"NET_RAW"}, host.CapDrop...)
	}
	for _, p := range spec.ReadOnly {
		if !filepath.IsAbs(p) {
			return client.ContainerCreateOptions{}, fmt.Errorf("read-only folder %q is not an absolute path", p)
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: p, Target: p, ReadOnly: true})
	}
	switch {
	case args.ShmSize > 0:
		host.ShmSize = args.ShmSize
	case spec.ShmSize > 0:
		host.ShmSize = spec.ShmSize
	}
	host.NanoCPUs = d.NanoCPUs
	host.Memory = d.MemoryBytes
	if d.GPUs > 0 {
		host.DeviceRequests = []container.DeviceRequest{{Count: -1, Capabilities: [][]string{{"gpu"}}}}
	}
	if args.PidsLimit != 0 {
		host.PidsLimit = ptr(args.PidsLimit)
	}
	for _, u := range args.Ulimits {
		host.Ulimits = append(host.Ulimits, &container.Ulimit{Name: u.Name, Soft: u.Soft, Hard: u.Hard})
	}
	for _, dev := range args.Devices {
		host.Devices = append(host.Devices, container.DeviceMapping{
			PathOnHost: dev.Host, PathInContainer: dev.Container, CgroupPermissions: dev.Perms,
		})
	}
	return client.ContainerCreateOptions{Config: cfg, HostConfig: host, Name: d.containerName(spec.ID)}, nil
}

// containerEnv is the environment the container adds to its image's own (which keeps PATH
// unless the task overrides it): the docker args' -e variables, then the spec's, which win,
// then what the wrapper needs (and unsets before the command runs).
func containerEnv(fromArgs, fromSpec map[string]string) ([]string, error) {
	env := maps.Clone(fromArgs)
	if env == nil {
		env = make(map[string]string)
	}
	for k, v := range fromSpec {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("env: bad variable name %q", k)
		}
		if strings.ContainsRune(v, 0) {
			return nil, errors.New("env: " + k + ": value holds a NUL byte")
		}
		env[k] = v
	}
	env["TINI_KILL_PROCESS_GROUP"] = "1"
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out, nil
}

func ptr[T any](v T) *T { return &v }
