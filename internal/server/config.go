package server

import (
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/manifest"
	"github.com/trainyard/trainyard/internal/quota"
)

// File is the server's config file (trainyard server --config), read strictly: an unknown key
// is an error with its line.
//
//	listen: 127.0.0.1:7878
//	data_dir: /srv/trainyard
//	locations:
//	  - name: local
//	    provider: local
//	    sizes:                  # optional; default: the built-in catalog
//	      - {name: STANDARD_D2_V2, family: standardDv2Family, vcpus: 2, memory_gib: 7}
//	    quotas:                 # per workspace; a pool not named has 100 cores
//	      dedicated_cores: {standardNCFamily: 0}
//	      low_priority_cores: 50
//	  - name: containers
//	    provider: docker        # nodes are containers on the local Docker engine
//	    node_image: trainyard/base:bookworm-1   # the default; make images builds it
type File struct {
	Listen    string     `json:"listen"`
	DataDir   string     `json:"data_dir"`
	Locations []Location `json:"locations"`
}

// Location is where a compute's nodes come from: a provider, its catalog of sizes and the core
// quotas of each workspace there.
type Location struct {
	Name     string       `json:"name"`
	Provider string       `json:"provider"`
	Sizes    []Size       `json:"sizes"`
	Quotas   QuotasConfig `json:"quotas"`
	// NodeImage is the image of the docker provider's node containers; default DefaultNodeImage.
	NodeImage string `json:"node_image"`
	// CapacityCores is how many cores the location has for nodes, of every cluster together
	// (0: no bound); dedicated clusters take it from low-priority ones by preempting them.
	CapacityCores int `json:"capacity_cores"`
	// Netns runs the local provider's node agents in that network namespace (it must exist),
	// and ServerURL is where they reach the server from there; both for provider local.
	Netns     string `json:"netns"`
	ServerURL string `json:"server_url"`
}

// DefaultNodeImage is the node image `make images` builds: Debian with bash and python3.
const DefaultNodeImage = "trainyard/base:bookworm-1"

// Size is one entry of a location's catalog.
type Size struct {
	Name               string  `json:"name"`
	Family             string  `json:"family"`
	VCPUs              int     `json:"vcpus"`
	MemoryGiB          float64 `json:"memory_gib"`
	GPUs               int     `json:"gpus"`
	GPUModel           string  `json:"gpu_model"`
	LowPriorityCapable *bool   `json:"low_priority_capable"`
}

// QuotasConfig are the default core limits of every workspace in a location.
type QuotasConfig struct {
	DedicatedCores   map[string]int `json:"dedicated_cores"`
	LowPriorityCores *int           `json:"low_priority_cores"`
}

// providers are the kinds of location this server can run.
var providers = []string{"local", "docker"}

// DefaultLocations is the one location of a server without a config file.
func DefaultLocations() []Location { return []Location{{Name: "local", Provider: "local"}} }

// ReadConfigFile reads and validates a config file.
func ReadConfigFile(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	cfg, err := ParseConfig(f)
	if err != nil {
		return cfg, fmt.Errorf("%s: %s", path, trainyard.ErrorMessage(err))
	}
	return cfg, nil
}

// ParseConfig reads a config file's content and validates it.
func ParseConfig(r io.Reader) (File, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return File{}, err
	}
	var f File
	if err := manifest.Decode(data, &f); err != nil {
		return f, err
	}
	if len(f.Locations) == 0 {
		f.Locations = DefaultLocations()
	}
	return f, f.Validate()
}

// Validate checks the config; its errors name the field, e.g. locations[1].sizes[0].vcpus.
func (f File) Validate() error {
	seen := map[string]bool{}
	bad := func(field, format string, args ...any) error {
		return trainyard.Errorf(trainyard.Invalid, "%s: %s", field, fmt.Sprintf(format, args...))
	}
	for i, l := range f.Locations {
		at := fmt.Sprintf("locations[%d]", i)
		switch {
		case l.Name == "" || strings.ContainsAny(l.Name, " /?#"):
			return bad(at+".name", "%q: give a name without spaces or / ? #", l.Name)
		case seen[l.Name]:
			return bad(at+".name", "%q appears twice; location names are unique", l.Name)
		case !contains(providers, l.Provider):
			return bad(at+".provider", "%q: this server runs providers %s", l.Provider, strings.Join(providers, ", "))
		}
		seen[l.Name] = true
		if l.NodeImage != "" && l.Provider != "docker" {
			return bad(at+".node_image", "applies to provider docker only; remove it or set provider: docker")
		}
		if l.Netns != "" && l.Provider != "local" {
			return bad(at+".netns", "applies to provider local only; remove it or set provider: local")
		}
		if l.Netns != "" && (strings.ContainsAny(l.Netns, "/ ") || strings.HasPrefix(l.Netns, ".")) {
			return bad(at+".netns", "%q: the name of a network namespace (ip netns list)", l.Netns)
		}
		if u, err := url.Parse(l.ServerURL); l.ServerURL != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "") {
			return bad(at+".server_url", "%q: the http:// or https:// URL the location's nodes reach this server at", l.ServerURL)
		}
		if l.CapacityCores < 0 {
			return bad(at+".capacity_cores", "%d: must be 0 (no bound) or more", l.CapacityCores)
		}
		sizes := map[string]bool{}
		for j, s := range l.Sizes {
			at := fmt.Sprintf("%s.sizes[%d]", at, j)
			switch {
			case s.Name == "":
				return bad(at+".name", "is required")
			case sizes[strings.ToUpper(s.Name)]:
				return bad(at+".name", "%q appears twice", s.Name)
			case s.Family == "":
				return bad(at+".family", "is required: the VM family whose quota the size draws on")
			case s.VCPUs <= 0:
				return bad(at+".vcpus", "%d: must be 1 or more", s.VCPUs)
			case s.MemoryGiB < 0 || s.GPUs < 0:
				return bad(at, "memory_gib and gpus must not be negative")
			}
			sizes[strings.ToUpper(s.Name)] = true
		}
		for fam, n := range l.Quotas.DedicatedCores {
			if n < 0 {
				return bad(at+".quotas.dedicated_cores."+fam, "%d: must be 0 or more", n)
			}
		}
		if p := l.Quotas.LowPriorityCores; p != nil && *p < 0 {
			return bad(at+".quotas.low_priority_cores", "%d: must be 0 or more", *p)
		}
	}
	return nil
}

// Catalog returns the location's sizes: its own, or the built-in catalog.
func (l Location) Catalog() []trainyard.VMSize {
	if len(l.Sizes) == 0 {
		return trainyard.BuiltinSizes
	}
	out := make([]trainyard.VMSize, len(l.Sizes))
	for i, s := range l.Sizes {
		out[i] = trainyard.VMSize{Name: strings.ToUpper(s.Name), Family: s.Family, VCPUs: s.VCPUs, MemoryGiB: s.MemoryGiB,
			GPUs: s.GPUs, GPUModel: s.GPUModel, LowPriorityCapable: s.LowPriorityCapable == nil || *s.LowPriorityCapable}
	}
	return out
}

// Limits returns the default quota limits of each workspace in the location.
func (l Location) Limits() quota.Limits {
	return quota.Limits{Dedicated: l.Quotas.DedicatedCores, LowPriority: l.Quotas.LowPriorityCores}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
