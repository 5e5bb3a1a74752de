package trainyard_test

import (
	"math"
	"testing"

	"github.com/trainyard/trainyard"
)

// Every built-in size has a price, and a low-priority node costs trainyard.LowPriorityDiscount less.
func TestHourlyPrice(t *testing.T) {
	for _, s := range trainyard.BuiltinSizes {
		if s.PricePerHour <= 0 {
			t.Errorf("%s has no PricePerHour; simulate needs one for every built-in size", s.Name)
		}
	}
	nc24, _ := trainyard.LookupSize(trainyard.BuiltinSizes, "standard_nc24")
	if got := nc24.HourlyPrice(trainyard.Dedicated); got != 3.60 {
		t.Errorf("STANDARD_NC24 dedicated = %v $/h, want 3.60", got)
	}
	if got := nc24.HourlyPrice(trainyard.LowPriority); math.Abs(got-0.72) > 1e-9 {
		t.Errorf("STANDARD_NC24 low_priority = %v $/h, want 0.72 (80%% off)", got)
	}
}
