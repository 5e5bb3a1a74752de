// Package dockerargs parses the extra `docker run` options a job gives in resources.docker_args,
// and docker memory sizes such as 2g. It accepts a small, safe set of options and refuses the
// rest with a message that says why and what to do instead: the node, not the job, decides the
// network, the mounts and the GPUs.
//
// It imports only the standard library: its Options are our own, and the docker driver turns
// them into the engine's types.
package dockerargs

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Options are the parsed docker_args. Zero values mean "not given".
type Options struct {
	IPC         string // --ipc: host, private, shareable or none
	CapAdd      []string
	CapDrop     []string
	SecurityOpt []string
	Ulimits     []Ulimit
	Env         map[string]string // -e/--env K=V
	ShmSize     int64             // --shm-size, in bytes
	PidsLimit   int64             // --pids-limit; -1 is unlimited
	Init        bool
	Devices     []Device
	Tmpfs       map[string]string // container path → mount options ("" for the defaults)
	User        string            // --user UID[:GID]
}

// Ulimit is one --ulimit; -1 is unlimited.
type Ulimit struct {
	Name       string
	Soft, Hard int64
}

// Device is one --device.
type Device struct {
	Host, Container string
	Perms           string // some of r, w and m
}

// prefix starts every error Parse returns: the field of the job it checks.
const prefix = "resources.docker_args: "

// option is one supported flag: apply parses its value (empty for a switch) into o.
type option struct {
	example string // a correct use, for error messages
	isBool  bool   // a switch: --init, or --init=false
	apply   func(o *Options, v string) error
}

var options = map[string]option{
	"--ipc": {"--ipc=host", false, func(o *Options, v string) error {
		switch v {
		case "host", "private", "shareable", "none":
			o.IPC = v
			return nil
		}
		return errors.New("want host, private, shareable or none")
	}},
	"--cap-add": {"--cap-add SYS_PTRACE", false, func(o *Options, v string) error {
		c := strings.TrimPrefix(strings.ToUpper(v), "CAP_")
		if slices.Contains(hostCaps, c) {
			return fmt.Errorf("%s gives the job the node's host, and with it the server's secrets; add only the narrower capability the job needs", c)
		}
		if slices.Contains(netCaps, c) {
			return fmt.Errorf("%s would let the job read or change the node's network, which it shares, and the tokens that cross it; the node decides the network", c)
		}
		o.CapAdd = append(o.CapAdd, v)
		return nil
	}},
	"--cap-drop":     {"--cap-drop NET_RAW", false, func(o *Options, v string) error { o.CapDrop = append(o.CapDrop, v); return nil }},
	"--security-opt": {"--security-opt seccomp=unconfined", false, func(o *Options, v string) error { o.SecurityOpt = append(o.SecurityOpt, v); return nil }},
	"--ulimit":       {"--ulimit memlock=-1:-1", false, parseUlimit},
	"--env":          {"--env NCCL_DEBUG=INFO", false, parseEnv},
	"-e":             {"-e NCCL_DEBUG=INFO", false, parseEnv},
	"--shm-size": {"--shm-size 8g", false, func(o *Options, v string) (err error) {
		o.ShmSize, err = ParseSize(v)
		return err
	}},
	"--pids-limit": {"--pids-limit 4096", false, func(o *Options, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n == 0 || n < -1 {
			return errors.New("want a positive number, or -1 for no limit")
		}
		o.PidsLimit = n
		return nil
	}},
	"--init":   {"--init", true, func(o *Options, v string) (err error) { o.Init, err = parseBool(v); return err }},
	"--device": {"--device /dev/infiniband/uverbs0", false, parseDevice},
	"--tmpfs": {"--tmpfs /scratch:size=10g", false, func(o *Options, v string) error {
		p, opts, _ := strings.Cut(v, ":")
		if !path.IsAbs(p) {
			return errors.New("want an absolute container path, then :options if any")
		}
		if o.Tmpfs == nil {
			o.Tmpfs = make(map[string]string)
		}
		o.Tmpfs[p] = opts
		return nil
	}},
	"--user": {"--user 1000:1000", false, func(o *Options, v string) error {
		if !userRE.MatchString(v) {
			return errors.New("want UID[:GID], each a number or a name")
		}
		o.User = v
		return nil
	}},
}

// refused are flags people reach for that the node decides; each maps to the reason.
var refused = map[string]string{
	"--network": "the node decides the network",
	"--net":     "the node decides the network",
	"-v":        "mounts are not allowed; put data in the code folder or outputs",
	"--volume":  "mounts are not allowed; put data in the code folder or outputs",
	"--mount":   "mounts are not allowed; put data in the code folder or outputs",
	"--gpus":    "the node decides: GPUs are passed through when the node has them",
	"-w":        "the working dir is the code folder",
	"--privileged": "a privileged container can take over the node's host, and with it the server's secrets; " +
		"give the job the devices (--device) and capabilities (--cap-add) it needs instead",
	"--workdir": "the working dir is the code folder",
}

// hostCaps are the capabilities that let a container take over its host; --cap-add refuses them.
var hostCaps = []string{"ALL", "SYS_ADMIN", "SYS_MODULE", "SYS_RAWIO", "DAC_READ_SEARCH", "SYS_BOOT"}

// devicePrefixes are the host devices --device may give a job: accelerators and the network
// devices distributed training uses. Disks and the rest of /dev would hand it the host.
var devicePrefixes = []string{"/dev/infiniband/", "/dev/nvidia", "/dev/dri/", "/dev/kfd", "/dev/accel/", "/dev/neuron", "/dev/fuse"}

// netCaps are the capabilities that let a container capture or reroute the traffic of the
// network it shares with its node; --cap-add refuses them, and the driver drops NET_RAW.
var netCaps = []string{"NET_RAW", "NET_ADMIN"}

var (
	userRE   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?$`)
	envKeyRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sizeRE   = regexp.MustCompile(`^([0-9]*\.?[0-9]+)([kmg]i?)?b?$`)
	// ulimitNames are the limits docker knows.
	ulimitNames = []string{"core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
		"nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack"}
)

// Supported lists the options Parse accepts, for help texts and errors.
func Supported() string {
	return "--ipc, --cap-add, --cap-drop, --ulimit, --security-opt, -e/--env, --shm-size, " +
		"--pids-limit, --init, --device, --tmpfs, --user"
}

// Parse parses s, a string of `docker run` options split as a shell would (single and double
// quotes, backslash escapes). Each option may be given as --flag=value or --flag value.
func Parse(s string) (Options, error) {
	var o Options
	args, err := split(s)
	if err != nil {
		return o, errors.New(prefix + err.Error())
	}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		name, value, hasValue := strings.Cut(arg, "=")
		if len(arg) > 2 && arg[0] == '-' && arg[1] != '-' {
			name, value, hasValue = arg[:2], strings.TrimPrefix(arg[2:], "="), true // -eK=V, -e=K=V
		}
		if !strings.HasPrefix(name, "-") {
			return Options{}, fmt.Errorf(prefix+"%q is not an option: give only options such as %s, not an image or a command", arg, Supported())
		}
		if why, ok := refused[name]; ok {
			return Options{}, fmt.Errorf(prefix+"%s is not allowed: %s", name, why)
		}
		opt, ok := options[name]
		if !ok {
			return Options{}, fmt.Errorf(prefix+"%s is not supported; the supported options are %s", name, Supported())
		}
		if !hasValue && !opt.isBool {
			if i+1 == len(args) || looksLikeFlag(args[i+1]) {
				return Options{}, fmt.Errorf(prefix+"%s needs a value, like %s", name, opt.example)
			}
			i++
			value = args[i]
		}
		if err := opt.apply(&o, value); err != nil {
			return Options{}, fmt.Errorf(prefix+"%s %q: %v; for example %s", name, value, err, opt.example)
		}
	}
	return o, nil
}

// looksLikeFlag reports whether arg is a flag rather than a value such as -1.
func looksLikeFlag(arg string) bool {
	_, err := strconv.ParseInt(arg, 10, 64)
	return strings.HasPrefix(arg, "-") && err != nil
}

func parseBool(v string) (bool, error) {
	switch v {
	case "", "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, errors.New("want true or false, or no value")
}

func parseEnv(o *Options, v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || !envKeyRE.MatchString(k) {
		return errors.New("want NAME=value")
	}
	if o.Env == nil {
		o.Env = make(map[string]string)
	}
	o.Env[k] = val
	return nil
}

func parseUlimit(o *Options, v string) error {
	name, limits, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want name=soft[:hard]")
	}
	if !slices.Contains(ulimitNames, name) {
		return fmt.Errorf("unknown limit %q: want one of %s", name, strings.Join(ulimitNames, ", "))
	}
	softS, hardS, hasHard := strings.Cut(limits, ":")
	if !hasHard {
		hardS = softS
	}
	soft, err1 := strconv.ParseInt(softS, 10, 64)
	hard, err2 := strconv.ParseInt(hardS, 10, 64)
	switch {
	case err1 != nil || err2 != nil || soft < -1 || hard < -1:
		return errors.New("want numbers, or -1 for unlimited, as name=soft[:hard]")
	case hard != -1 && (soft == -1 || soft > hard):
		return errors.New("the soft limit is above the hard limit")
	}
	o.Ulimits = append(o.Ulimits, Ulimit{Name: name, Soft: soft, Hard: hard})
	return nil
}

func parseDevice(o *Options, v string) error {
	parts := strings.Split(v, ":")
	d := Device{Host: parts[0], Container: parts[0], Perms: "rwm"}
	switch {
	case len(parts) > 3:
		return errors.New("want HOSTPATH[:CONTAINERPATH[:PERMS]]")
	case len(parts) == 3:
		d.Container, d.Perms = parts[1], parts[2]
	case len(parts) == 2 && strings.Trim(parts[1], "rwm") == "":
		d.Perms = parts[1] // HOSTPATH:PERMS, as docker allows
	case len(parts) == 2:
		d.Container = parts[1]
	}
	if !path.IsAbs(d.Host) || !path.IsAbs(d.Container) {
		return errors.New("want absolute paths, as HOSTPATH[:CONTAINERPATH[:PERMS]]")
	}
	if d.Perms == "" || strings.Trim(d.Perms, "rwm") != "" {
		return errors.New("permissions are some of r, w and m")
	}
	if !slices.ContainsFunc(devicePrefixes, func(p string) bool { return strings.HasPrefix(path.Clean(d.Host), p) }) {
		return fmt.Errorf("%s is not a device a job may have: jobs get accelerator and network devices (%s), never disks or other host devices", d.Host, strings.Join(devicePrefixes, "…, ")+"…")
	}
	o.Devices = append(o.Devices, d)
	return nil
}

// ParseSize parses a docker memory size, such as 2g, 512m, 1.5G, 512mb or 1GiB, into bytes.
// Units are binary (k is 1024) and case does not matter; a bare number is bytes.
func ParseSize(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.ToLower(s))
	if m == nil {
		return 0, fmt.Errorf("%q is not a size: want a number with an optional unit b, k, m or g, like 2g or 512m", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size: want a number with an optional unit b, k, m or g, like 2g or 512m", s)
	}
	if m[2] != "" {
		f *= float64(int64(1) << (10 * (strings.IndexByte("kmg", m[2][0]) + 1)))
	}
	switch {
	case f >= math.MaxInt64:
		return 0, fmt.Errorf("%q is not a size: it is too large; want at most 8 exabytes, like 2g or 512m", s)
	case f < 1:
		return 0, fmt.Errorf("%q is not a size: want a size above zero, like 2g or 512m", s)
	}
	return int64(f), nil
}
