package api

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"120", 120 * time.Second, false},
		{"1.5", 1500 * time.Millisecond, false},
		{"PT2M", 2 * time.Minute, false},
		{"PT120S", 120 * time.Second, false},
		{"pt30m", 30 * time.Minute, false},
		{"P1DT2H", 26 * time.Hour, false},
		{"PT1H30M5S", time.Hour + 30*time.Minute + 5*time.Second, false},
		{"P1W", 7 * 24 * time.Hour, false},
		{"2m", 0, true},
		{"PT", 0, true},
		{"P1M", 0, true}, // months are not a fixed length
		{"PT5", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestSecondsJSON(t *testing.T) {
	for in, want := range map[string]time.Duration{`600`: 10 * time.Minute, `"PT10M"`: 10 * time.Minute, `"600"`: 10 * time.Minute} {
		var s Seconds
		if err := json.Unmarshal([]byte(in), &s); err != nil || s.Duration != want {
			t.Errorf("Unmarshal(%s) = %v, %v; want %v", in, s.Duration, err, want)
		}
	}
	var s Seconds
	if err := json.Unmarshal([]byte(`"soon"`), &s); err == nil {
		t.Errorf(`Unmarshal("soon") succeeded, want an error`)
	}
	if b, _ := json.Marshal(Seconds{90 * time.Second}); string(b) != "90" {
		t.Errorf("Marshal(90s) = %s, want 90", b)
	}
	if got := ISODuration(120 * time.Second); got != "PT120S" {
		t.Errorf("ISODuration(120s) = %q, want PT120S", got)
	}
}
