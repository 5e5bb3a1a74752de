package cli

import (
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"

	"github.com/spf13/pflag"
)

func flagString(f *pflag.FlagSet, name string) string {
	v, _ := f.GetString(name)
	return v
}

// keyValues parses repeated key=value flags.
func keyValues(flag string, pairs []string) (map[string]string, error) {
	m := map[string]string{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		if !ok || k == "" {
			return nil, UsageError{fmt.Errorf("%s %q: want key=value", flag, p)}
		}
		m[k] = v
	}
	return m, nil
}

// scaleFlags are a cluster's scale settings on the command line (create and update).
type scaleFlags struct {
	min, max int
	idle     string
}

func (s *scaleFlags) register(f *pflag.FlagSet, defaultMax int, idleNote string) {
	f.IntVar(&s.min, "min-instances", 0, "nodes kept even when idle")
	f.IntVar(&s.max, "max-instances", defaultMax, "most nodes the cluster grows to")
	f.StringVar(&s.idle, "idle-time-before-scale-down", "", "seconds (or ISO-8601 like PT2M) a node may sit idle before release"+idleNote)
}

// apply sets the settings given on the command line, leaving the others alone.
func (s *scaleFlags) apply(f *pflag.FlagSet, min, max **int, idle **api.Seconds) error {
	if f.Changed("min-instances") {
		*min = &s.min
	}
	if f.Changed("max-instances") {
		*max = &s.max
	}
	if f.Changed("idle-time-before-scale-down") {
		d, err := api.ParseDuration(s.idle)
		if err != nil {
			return UsageError{fmt.Errorf("--idle-time-before-scale-down: %w", err)}
		}
		*idle = &api.Seconds{Duration: d}
	}
	return nil
}

// tierFlag parses the tier a flag gives, naming that flag and its spellings when it is wrong:
// --tier (v2: dedicated, low_priority) or --vm-priority (v1: dedicated, lowpriority). Both take
// every spelling the reference system uses.
func tierFlag(flag, v string) (trainyard.Tier, error) {
	t, err := trainyard.ParseTier(v)
	if err == nil {
		return t, nil
	}
	spellings := "dedicated or low_priority (lowpriority also accepted)"
	if flag == "--vm-priority" {
		spellings = "dedicated or lowpriority (low_priority also accepted)"
	}
	return "", UsageError{fmt.Errorf("%s %q: must be %s", flag, v, spellings)}
}
