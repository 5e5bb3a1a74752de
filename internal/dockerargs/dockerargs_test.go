package dockerargs_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/trainyard/trainyard/internal/dockerargs"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"1024", 1024},
		{"100b", 100},
		{"100k", 100 << 10},
		{"512m", 512 << 20},
		{"512mb", 512 << 20},
		{"512MB", 512 << 20},
		{"512Mi", 512 << 20},
		{"2g", 2 << 30},
		{"1G", 1 << 30},
		{"1gb", 1 << 30},
		{"1GiB", 1 << 30},
		{"1.5g", 3 << 29},
		{".5k", 512},
	}
	for _, tt := range tests {
		got, err := dockerargs.ParseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // the whole error, or a part of it
	}{
		{"abc", `"abc" is not a size: want a number with an optional unit b, k, m or g, like 2g or 512m`},
		{"", `"" is not a size`},
		{"2t", `"2t" is not a size: want a number with an optional unit`},
		{"2 g", `"2 g" is not a size`},
		{"1024i", `"1024i" is not a size`},
		{"-1g", `"-1g" is not a size`},
		{"1e3", `"1e3" is not a size`},
		{"0", `"0" is not a size: want a size above zero, like 2g or 512m`},
		{"0.1b", `"0.1b" is not a size: want a size above zero`},
		{"99999999999g", `"99999999999g" is not a size: it is too large`},
	}
	for _, tt := range tests {
		got, err := dockerargs.ParseSize(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ParseSize(%q) = %d, %v; want an error with %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want dockerargs.Options
	}{
		{name: "empty", in: "  ", want: dockerargs.Options{}},
		{
			name: "the usual NCCL set, both forms",
			in:   "--ipc=host --ulimit memlock=-1:-1 --ulimit=stack=67108864 --shm-size 16g --cap-add=IPC_LOCK",
			want: dockerargs.Options{
				IPC:    "host",
				CapAdd: []string{"IPC_LOCK"},
				Ulimits: []dockerargs.Ulimit{
					{Name: "memlock", Soft: -1, Hard: -1},
					{Name: "stack", Soft: 67108864, Hard: 67108864},
				},
				ShmSize: 16 << 30,
			},
		},
		{
			name: "env with quotes and spaces",
			in:   `-e NCCL_DEBUG=INFO --env 'GREETING=hello world' -e="QUOTED=say \"hi\"" -eEMPTY= --env=A=b=c`,
			want: dockerargs.Options{Env: map[string]string{
				"NCCL_DEBUG": "INFO", "GREETING": "hello world", "QUOTED": `say "hi"`, "EMPTY": "", "A": "b=c",
			}},
		},
		{
			name: "switches",
			in:   "--init=false --init=true",
			want: dockerargs.Options{Init: true},
		},
		{
			name: "the rest",
			in: "--cap-drop NET_RAW --security-opt seccomp=unconfined --pids-limit -1 " +
				"--ulimit nofile=1024:2048 --user 1000:1000 --tmpfs /scratch:size=1g,mode=1777 --tmpfs=/cache",
			want: dockerargs.Options{
				CapDrop:     []string{"NET_RAW"},
				SecurityOpt: []string{"seccomp=unconfined"},
				PidsLimit:   -1,
				Ulimits:     []dockerargs.Ulimit{{Name: "nofile", Soft: 1024, Hard: 2048}},
				User:        "1000:1000",
				Tmpfs:       map[string]string{"/scratch": "size=1g,mode=1777", "/cache": ""},
			},
		},
		{
			name: "devices",
			in:   "--device /dev/fuse --device=/dev/infiniband/uverbs0:/dev/ib0 --device /dev/nvidia0:/dev/nvidia0:r --device /dev/dri/card0:rw",
			want: dockerargs.Options{Devices: []dockerargs.Device{
				{Host: "/dev/fuse", Container: "/dev/fuse", Perms: "rwm"},
				{Host: "/dev/infiniband/uverbs0", Container: "/dev/ib0", Perms: "rwm"},
				{Host: "/dev/nvidia0", Container: "/dev/nvidia0", Perms: "r"},
				{Host: "/dev/dri/card0", Container: "/dev/dri/card0", Perms: "rw"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dockerargs.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Parse(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string // the whole error, or a part of it
	}{
		{"--network host", "resources.docker_args: --network is not allowed: the node decides the network"},
		{"--net=none", "resources.docker_args: --net is not allowed: the node decides the network"},
		{"-v /data:/data", "resources.docker_args: -v is not allowed: mounts are not allowed; put data in the code folder or outputs"},
		{"-v/data:/data", "-v is not allowed: mounts are not allowed"},
		{"--volume=/a:/b", "--volume is not allowed: mounts are not allowed"},
		{"--mount type=bind,src=/a,dst=/b", "--mount is not allowed: mounts are not allowed"},
		{"--gpus all", "resources.docker_args: --gpus is not allowed: the node decides: GPUs are passed through when the node has them"},
		{"--workdir /tmp", "--workdir is not allowed: the working dir is the code folder"},
		{"-w /tmp", "-w is not allowed: the working dir is the code folder"},
		{"--rm", "resources.docker_args: --rm is not supported; the supported options are --ipc, --cap-add, --cap-drop, --ulimit, --security-opt, -e/--env, --shm-size, --pids-limit, --init, --device, --tmpfs, --user"},
		{"--device /dev/vda", "resources.docker_args: --device \"/dev/vda\": /dev/vda is not a device a job may have"},
		{"--device /dev/infiniband/../vda", "resources.docker_args: --device \"/dev/infiniband/../vda\": /dev/infiniband/../vda is not a device a job may have"},
		{"--privileged", "resources.docker_args: --privileged is not allowed: a privileged container can take over the node's host"},
		{"--cap-add SYS_ADMIN", "resources.docker_args: --cap-add \"SYS_ADMIN\": SYS_ADMIN gives the job the node's host"},
		{"--cap-add=cap_sys_module", "resources.docker_args: --cap-add \"cap_sys_module\": SYS_MODULE gives the job the node's host"},
		{"--cap-add NET_RAW", "resources.docker_args: --cap-add \"NET_RAW\": NET_RAW would let the job read or change the node's network"},
		{"--cap-add ALL", "resources.docker_args: --cap-add \"ALL\": ALL gives the job the node's host"},
		{"ubuntu:22.04", `resources.docker_args: "ubuntu:22.04" is not an option`},
		{"--shm-size", "resources.docker_args: --shm-size needs a value, like --shm-size 8g"},
		{"--shm-size --init", "--shm-size needs a value"},
		{"--shm-size=abc", `resources.docker_args: --shm-size "abc": "abc" is not a size: want a number with an optional unit b, k, m or g, like 2g or 512m; for example --shm-size 8g`},
		{"--shm-size 0", `--shm-size "0": "0" is not a size: want a size above zero`},
		{"--ipc container:x", `--ipc "container:x": want host, private, shareable or none; for example --ipc=host`},
		{"--ulimit memlock", `--ulimit "memlock": want name=soft[:hard]`},
		{"--ulimit nofiles=10", `--ulimit "nofiles=10": unknown limit "nofiles"`},
		{"--ulimit nofile=2048:1024", "the soft limit is above the hard limit"},
		{"--ulimit nofile=-1:1024", "the soft limit is above the hard limit"},
		{"--ulimit nofile=lots", "want numbers, or -1 for unlimited"},
		{"-e NOVALUE", `-e "NOVALUE": want NAME=value`},
		{"--env 1X=y", `--env "1X=y": want NAME=value`},
		{"--pids-limit 0", "want a positive number, or -1 for no limit"},
		{"--init=yes", `--init "yes": want true or false`},
		{"--device dev/fuse", "want absolute paths"},
		{"--device /dev/nvidia0:/dev/nvidia0:rx", "permissions are some of r, w and m"},
		{"--device /a:/b:rw:x", "want HOSTPATH[:CONTAINERPATH[:PERMS]]"},
		{"--tmpfs scratch", "want an absolute container path"},
		{"--user 'a b'", `--user "a b": want UID[:GID]`},
		{"--user 1:2:3", "want UID[:GID]"},
		{`-e "A=unclosed`, `resources.docker_args: a " quote is not closed`},
		{`-e A=b\`, "resources.docker_args: the value ends with a lone backslash"},
	}
	for _, tt := range tests {
		got, err := dockerargs.Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %+v, %v; want an error with %q", tt.in, got, err, tt.want)
		}
	}
}
