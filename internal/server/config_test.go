package server

import (
	"net"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	f, err := ParseConfig(strings.NewReader(`
listen: 127.0.0.1:9000
locations:
  - name: local
    provider: local
    sizes:
      - {name: Standard_D2_v2, family: standardDv2Family, vcpus: 2, memory_gib: 7}
      - {name: gpu-box, family: gpuFamily, vcpus: 8, memory_gib: 64, gpus: 2, low_priority_capable: false}
    quotas:
      dedicated_cores: {gpuFamily: 0}
      low_priority_cores: 16
`))
	if err != nil {
		t.Fatalf("ParseConfig() error: %v", err)
	}
	if f.Listen != "127.0.0.1:9000" || len(f.Locations) != 1 {
		t.Fatalf("ParseConfig() = %+v", f)
	}
	cat := f.Locations[0].Catalog()
	if len(cat) != 2 || cat[0].Name != "STANDARD_D2_V2" || cat[1].GPUs != 2 || cat[1].LowPriorityCapable || !cat[0].LowPriorityCapable {
		t.Errorf("Catalog() = %+v", cat)
	}
	lim := f.Locations[0].Limits()
	if lim.Of("gpuFamily") != 0 || lim.Of("standardDv2Family") != 100 || lim.Of("lowPriority") != 16 {
		t.Errorf("Limits() = %+v", lim)
	}
}

func TestParseConfigDefaults(t *testing.T) {
	f, err := ParseConfig(strings.NewReader("listen: 127.0.0.1:7878\n"))
	if err != nil || len(f.Locations) != 1 || f.Locations[0].Name != "local" || len(f.Locations[0].Catalog()) == 0 {
		t.Errorf("ParseConfig(no locations) = %+v, %v; want the local location with the built-in catalog", f, err)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "locations:\n  - name: local\n    provider: local\n    sizez: []\n", `line 4: unknown key "locations[0].sizez"`},
		{"unknown provider", "locations:\n  - name: cloud\n    provider: aws\n", `locations[0].provider: "aws"`},
		{"duplicate", "locations:\n  - {name: a, provider: local}\n  - {name: a, provider: local}\n", `locations[1].name: "a" appears twice`},
		{"no vcpus", "locations:\n  - name: a\n    provider: local\n    sizes: [{name: x, family: f}]\n", "locations[0].sizes[0].vcpus: 0"},
		{"no family", "locations:\n  - name: a\n    provider: local\n    sizes: [{name: x, vcpus: 2}]\n", "locations[0].sizes[0].family: is required"},
		{"negative quota", "locations:\n  - name: a\n    provider: local\n    quotas: {dedicated_cores: {f: -1}}\n", "locations[0].quotas.dedicated_cores.f: -1"},
		{"bad name", "locations:\n  - {name: 'a b', provider: local}\n", "locations[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseConfig(strings.NewReader(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseConfig() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// The URL the server gives its CLI and nodes keeps an IPv6 link-local host's zone, which
// the listener's own address drops.
func TestServerURL(t *testing.T) {
	tests := []struct {
		listen string
		addr   net.TCPAddr
		want   string
	}{
		{"127.0.0.1:0", net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 7878}, "http://127.0.0.1:7878"},
		{"[::1]:7878", net.TCPAddr{IP: net.IPv6loopback, Port: 7878}, "http://[::1]:7878"},
		{"[fe80::a%tyva]:0", net.TCPAddr{IP: net.ParseIP("fe80::a"), Port: 40000}, "http://[fe80::a%25tyva]:40000"},
	}
	for _, tt := range tests {
		if got := serverURL(tt.listen, &tt.addr); got != tt.want {
			t.Errorf("serverURL(%q, %v) = %q, want %q", tt.listen, tt.addr, got, tt.want)
		}
	}
}
