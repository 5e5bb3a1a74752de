package trainyard_test

import (
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
)

func TestValidateComputeName(t *testing.T) {
	tests := []struct {
		name    string
		wantErr string // "" when valid; else a fragment of the message
	}{
		{"cpu-cluster", ""},
		{"gpu", ""},
		{"cpu-cluster-a1", ""},
		{"A23456789012345678901234", ""},
		{"cpu-cluster-1", `ends in "-1"`}, // case C-07
		{"cluster-2024", `ends in "-2024"`},
		{"cpu-", "ends in '-'"},
		{"ab", "2 characters"},
		{"A234567890123456789012345", "25 characters"},
		{"1cluster", "start with a letter"},
		{"-cluster", "start with a letter"},
		{"cpu_cluster", `'_' is not allowed`},
		{"local", "reserved"},
		{"AmlCompute", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := trainyard.ValidateComputeName(trainyard.TypeAmlCompute, tt.name)
			if tt.wantErr == "" {
				if err != nil {
					t.Errorf("ValidateComputeName(%q) = %v, want nil", tt.name, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ValidateComputeName(%q) = nil, want an error about %q", tt.name, tt.wantErr)
			}
			msg := trainyard.ErrorMessage(err)
			if !strings.Contains(msg, tt.wantErr) || trainyard.ErrorCode(err) != trainyard.Invalid {
				t.Errorf("ValidateComputeName(%q) = %q (%s), want an invalid error containing %q", tt.name, msg, trainyard.ErrorCode(err), tt.wantErr)
			}
			if !strings.Contains(msg, "reserved") && (!strings.Contains(msg, "amlcompute") || !strings.Contains(msg, trainyard.ComputeNameRule)) {
				t.Errorf("message %q must name the type and quote the rule", msg)
			}
		})
	}
}

func TestScaleSettingsValidate(t *testing.T) {
	tests := []struct {
		s       trainyard.ScaleSettings
		wantErr string
	}{
		{trainyard.ScaleSettings{MinNodes: 0, MaxNodes: 4, IdleTimeBeforeScaleDown: time.Minute}, ""},
		{trainyard.ScaleSettings{MinNodes: 2, MaxNodes: 2}, ""},
		{trainyard.ScaleSettings{MinNodes: 3, MaxNodes: 1}, "max_instances 1 is below min_instances 3"},
		{trainyard.ScaleSettings{MinNodes: -1, MaxNodes: 1}, "min_instances -1"},
		{trainyard.ScaleSettings{MaxNodes: -2}, "max_instances -2"},
		{trainyard.ScaleSettings{MaxNodes: 1, IdleTimeBeforeScaleDown: -time.Second}, "idle_time_before_scale_down"},
	}
	for _, tt := range tests {
		err := tt.s.Validate()
		if got := trainyard.ErrorMessage(err); (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(got, tt.wantErr) {
			t.Errorf("%+v.Validate() = %v, want error containing %q", tt.s, err, tt.wantErr)
		}
	}
}

func TestParseTier(t *testing.T) {
	for in, want := range map[string]trainyard.Tier{"": trainyard.Dedicated, "dedicated": trainyard.Dedicated, "Dedicated": trainyard.Dedicated,
		"low_priority": trainyard.LowPriority, "lowpriority": trainyard.LowPriority, "LowPriority": trainyard.LowPriority} {
		if got, err := trainyard.ParseTier(in); got != want || err != nil {
			t.Errorf("ParseTier(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := trainyard.ParseTier("spot"); err == nil || !strings.Contains(trainyard.ErrorMessage(err), "dedicated or low_priority") {
		t.Errorf("ParseTier(spot) = %v, want an error naming the choices", err)
	}
}

func TestJobStatusCanBecome(t *testing.T) {
	tests := []struct {
		from, to trainyard.JobStatus
		want     bool
	}{
		{trainyard.JobQueued, trainyard.JobPreparing, true},
		{trainyard.JobPreparing, trainyard.JobRunning, true},
		{trainyard.JobRunning, trainyard.JobFinalizing, true},
		{trainyard.JobFinalizing, trainyard.JobCompleted, true},
		{trainyard.JobRunning, trainyard.JobCancelRequested, true},
		{trainyard.JobQueued, trainyard.JobCanceled, true},
		{trainyard.JobQueued, trainyard.JobRunning, false},
		{trainyard.JobQueued, trainyard.JobCancelRequested, false},
		{trainyard.JobFinalizing, trainyard.JobRunning, false},
		{trainyard.JobCompleted, trainyard.JobFailed, false},
		{trainyard.JobCanceled, trainyard.JobQueued, false},
	}
	for _, tt := range tests {
		if got := tt.from.CanBecome(tt.to); got != tt.want {
			t.Errorf("%s.CanBecome(%s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
