package process

import (
	"testing"

	"github.com/trainyard/trainyard/internal/driver"
)

func TestExitFromStatus(t *testing.T) {
	tests := []struct {
		status int
		want   driver.Exit
	}{
		{status: 0, want: driver.Exit{Code: 0}},
		{status: 3, want: driver.Exit{Code: 3}},
		{status: 127, want: driver.Exit{Code: 127}}, // command not found
		{status: 128, want: driver.Exit{Code: 128}},
		{status: 129, want: driver.Exit{Code: -1, Signal: 1}},
		{status: 137, want: driver.Exit{Code: -1, Signal: 9}}, // also what "exit 137" gives
		{status: 143, want: driver.Exit{Code: -1, Signal: 15}},
		{status: 192, want: driver.Exit{Code: -1, Signal: 64}},
		{status: 193, want: driver.Exit{Code: 193}},
		{status: 255, want: driver.Exit{Code: 255}},
	}
	for _, tt := range tests {
		if got := exitFromStatus(tt.status); got != tt.want {
			t.Errorf("exitFromStatus(%d) = %+v, want %+v", tt.status, got, tt.want)
		}
	}
}
