package quota

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name                   string
		requested, used, limit int
		fits                   bool
	}{
		{"fits", 4, 8, 24, true},
		{"exactly full", 4, 20, 24, true},
		{"one core over", 4, 21, 24, false},
		{"zero limit (a GPU family before quota is granted)", 6, 0, 0, false},
		{"nothing asked", 0, 24, 24, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Check("QuotaExceeded", "default", "local", "standardNCFamily", tt.requested, tt.used, tt.limit)
			if (got == nil) != tt.fits {
				t.Errorf("Check(%d, %d, %d) = %+v, want fits=%v", tt.requested, tt.used, tt.limit, got, tt.fits)
			}
		})
	}
}

func TestExceededMessage(t *testing.T) {
	e := Check("JobNodeCountExceedsCoreQuota", "vision", "local", "standardNCFamily", 12, 0, 6)
	msg := e.Message()
	for _, want := range []string{"JobNodeCountExceedsCoreQuota", "standardNCFamily", "needs 12 more cores", "0 of its 6", "workspace vision",
		`trainyard quota set -w vision --location local --family "standardNCFamily" --limit 12`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Message() = %q, want it to contain %q", msg, want)
		}
	}
	lp := Check("QuotaExceeded", "default", "local", LowPriorityPool, 4, 100, 100).Message()
	if !strings.Contains(lp, "the low-priority pool") || !strings.Contains(lp, "--low-priority --limit 104") {
		t.Errorf("low-priority message = %q", lp)
	}
}

func TestLimitsOf(t *testing.T) {
	ten := 10
	l := Limits{Dedicated: map[string]int{"standardNCFamily": 0}, LowPriority: &ten}
	if l.Of("standardNCFamily") != 0 || l.Of("standardDv2Family") != DefaultCores || l.Of(LowPriorityPool) != 10 {
		t.Errorf("Of() = %d, %d, %d; want 0, %d, 10", l.Of("standardNCFamily"), l.Of("standardDv2Family"), l.Of(LowPriorityPool), DefaultCores)
	}
	if (Limits{}).Of(LowPriorityPool) != DefaultCores {
		t.Errorf("default low-priority limit is not DefaultCores")
	}
	if Pool("f", true) != LowPriorityPool || Pool("f", false) != "f" {
		t.Errorf("Pool() maps wrongly")
	}
}

func TestHeadroom(t *testing.T) {
	for _, tt := range []struct{ cores, used, limit, want int }{{4, 0, 24, 6}, {4, 22, 24, 0}, {4, 30, 24, 0}, {6, 6, 24, 3}} {
		if got := Headroom(tt.cores, tt.used, tt.limit); got != tt.want {
			t.Errorf("Headroom(%d, %d, %d) = %d, want %d", tt.cores, tt.used, tt.limit, got, tt.want)
		}
	}
}
