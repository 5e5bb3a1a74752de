package trainyard

import (
	"strings"
	"testing"
)

// Environment names are 1 to 255 characters and versions 1 to 64, of letters, digits, '-',
// '_' and '.', starting with a letter or digit.
func TestEnvironmentNameAndVersionRules(t *testing.T) {
	tests := []struct {
		name, version string
		nameOK, verOK bool
	}{
		{name: "train-env", version: "1", nameOK: true, verOK: true},
		{name: strings.Repeat("a", 255), version: strings.Repeat("1", 64), nameOK: true, verOK: true},
		{name: strings.Repeat("a", 256), version: strings.Repeat("1", 65)},
		{name: "", version: ""},
		{name: "-env", version: ".1"},
		{name: "env name", version: "1 2"},
		{name: "ok.name_2", version: "latest", nameOK: true},
	}
	for _, tt := range tests {
		if err := CheckEnvironmentName(tt.name); (err == nil) != tt.nameOK {
			t.Errorf("CheckEnvironmentName(%q) = %v, want ok %v", tt.name, err, tt.nameOK)
		}
		if err := CheckEnvironmentVersion(tt.version); (err == nil) != tt.verOK {
			t.Errorf("CheckEnvironmentVersion(%q) = %v, want ok %v", tt.version, err, tt.verOK)
		}
	}
}
