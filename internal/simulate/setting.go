package simulate

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/autoscale"
)

// The server's timings a replay follows. TestServerTimings holds them to the server's defaults
// (server.DefaultConfig), so that a change there shows here.
const (
	// DefaultInterval is the autoscaler's interval between passes when nothing kicks it.
	DefaultInterval = 2 * time.Second
	// HeartbeatTimeout is the silence after which the server loses a node. Agents of live
	// nodes sync far more often, so in a replay only preemption loses nodes.
	HeartbeatTimeout = 60 * time.Second
)

// Setting is one cluster setting to replay a trace against: what `compute create` sets, how
// its nodes behave, and the server's own timings.
type Setting struct {
	Name     string // the setting's label in the report
	Size     trainyard.VMSize
	Min, Max int           // min_instances, max_instances
	Idle     time.Duration // idle_time_before_scale_down
	Boot     time.Duration // from a node's launch to its agent registering
	// BootTimeout is the server's: a node whose agent has not registered by then is released.
	BootTimeout time.Duration
	Tier        trainyard.Tier
	// PreemptionRate is how often a low-priority node is preempted, per node-hour.
	PreemptionRate float64
	// MaxRetries is how often a job restarts after a preemption before it is lost (fails
	// with PreemptionError); 0 fails it at the first, as the store does today.
	MaxRetries int
	Seed       uint64        // seeds the preemptions
	Interval   time.Duration // between autoscaler passes that nothing kicked
}

// MaxNodes is the most nodes a setting's cluster may have: a million-node row took 3 GB and
// seconds a step.
const MaxNodes = 100_000

// DefaultMaxRetries is how often a preempted job restarts before it is lost.
const DefaultMaxRetries = 3

// DefaultSetting is the setting of a replay given no keys.
func DefaultSetting() Setting {
	size, _ := trainyard.LookupSize(trainyard.BuiltinSizes, trainyard.DefaultSize)
	return Setting{Size: size, Max: 10, Idle: trainyard.DefaultIdleTimeBeforeScaleDown, Boot: 3 * time.Minute,
		BootTimeout: autoscale.DefaultBootTimeout, Tier: trainyard.Dedicated, MaxRetries: DefaultMaxRetries, Seed: 1,
		Interval: DefaultInterval}
}

// Keys are the keys Set takes, as help lists them.
var Keys = []string{"name", "size", "min", "max", "idle", "boot", "boot-timeout", "tier", "preemption-rate", "max-retries", "seed", "interval"}

// Set sets one key to a value written as on the command line. Its errors name the key, the
// value and what it wants.
func (s *Setting) Set(key, value string) error {
	v := strings.TrimSpace(value)
	var err error
	switch strings.ToLower(strings.TrimSpace(key)) {
	case "name":
		if v == "" {
			return fmt.Errorf("name is empty; write name=LABEL")
		}
		s.Name = v
	case "size":
		size, ok := trainyard.LookupSize(trainyard.BuiltinSizes, v)
		if !ok {
			if near, found := trainyard.LookupSize(trainyard.BuiltinSizes, "STANDARD_"+v); found {
				return fmt.Errorf("size %q is not in the catalog; did you mean %s?", v, near.Name)
			}
			return fmt.Errorf("size %q is not in the catalog; choose one of: %s", v, strings.Join(trainyard.SizeNames(trainyard.BuiltinSizes), ", "))
		}
		s.Size = size
	case "min":
		s.Min, err = whole("min", v)
	case "max":
		s.Max, err = whole("max", v)
	case "idle":
		s.Idle, err = duration("idle", v)
	case "boot":
		s.Boot, err = duration("boot", v)
	case "boot-timeout":
		s.BootTimeout, err = duration("boot-timeout", v)
	case "interval":
		s.Interval, err = duration("interval", v)
	case "tier":
		if s.Tier, err = trainyard.ParseTier(strings.ReplaceAll(v, "-", "_")); err != nil {
			err = fmt.Errorf("tier %q: must be dedicated or low_priority (also written low-priority or lowpriority)", v)
		}
	case "preemption-rate":
		s.PreemptionRate, err = rate(v)
	case "max-retries":
		s.MaxRetries, err = whole("max-retries", v)
	case "seed":
		if s.Seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			err = fmt.Errorf("seed %q: want a whole number of 0 or more", v)
		}
	default:
		return fmt.Errorf("unknown key %q; the keys are: %s", key, strings.Join(Keys, ", "))
	}
	return err
}

// Apply sets every key=value of a comma-separated list, e.g. "idle=1800s,max=20". A key
// given twice is refused: which value was meant cannot be told.
func (s *Setting) Apply(list string) error {
	if strings.Trim(list, ", ") == "" {
		return fmt.Errorf("no key=value changes; write e.g. idle=1800s, or name=base for the flags' setting as it is")
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(list, ",") {
		if strings.TrimSpace(kv) == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("%q: want key=value, e.g. idle=1800s; the keys are: %s", kv, strings.Join(Keys, ", "))
		}
		key := strings.ToLower(strings.TrimSpace(k))
		if seen[key] {
			return fmt.Errorf("%s is given twice; give each key once", key)
		}
		seen[key] = true
		if err := s.Set(k, v); err != nil {
			return err
		}
	}
	if seen["tier"] && s.Tier == trainyard.Dedicated && !seen["preemption-rate"] {
		s.PreemptionRate = 0 // a dedicated row beside low-priority ones: dedicated nodes are not preempted
	}
	return nil
}

// Validate checks the setting as a whole. Its errors name the keys, the values, the rule and
// the fix.
func (s Setting) Validate() error {
	switch {
	case s.Max < 1:
		return fmt.Errorf("max %d: must be 1 or more, or no job can ever start", s.Max)
	case s.Max > MaxNodes:
		return fmt.Errorf("max %d: a replay holds at most %d nodes (each is kept in memory, about 3 KB, and every pass reads them all); lower max", s.Max, MaxNodes)
	case s.Min < 0:
		return fmt.Errorf("min %d: must be 0 or more", s.Min)
	case s.Min > s.Max:
		return fmt.Errorf("min %d is above max %d: min must be <= max", s.Min, s.Max)
	case s.Idle < 0:
		return fmt.Errorf("idle %s: must be 0 or more", s.Idle)
	case s.Boot < 0:
		return fmt.Errorf("boot %s: must be 0 or more", s.Boot)
	case s.BootTimeout <= s.Boot:
		return fmt.Errorf("boot %s is not shorter than boot-timeout %s: the server releases a node whose agent has not registered by its boot timeout, so no node would ever come up; lower boot or raise boot-timeout (to %s, say)",
			s.Boot, s.BootTimeout, max(2*s.Boot, s.Boot+time.Minute))
	case s.MaxRetries < 0:
		return fmt.Errorf("max-retries %d: must be 0 or more", s.MaxRetries)
	case s.Interval <= 0:
		return fmt.Errorf("interval %s: must be more than 0", s.Interval)
	case s.PreemptionRate > 0 && s.Tier != trainyard.LowPriority:
		return fmt.Errorf("preemption-rate %.4g/h applies to tier low_priority only: dedicated nodes are not preempted; set tier to low_priority, or leave preemption-rate out", s.PreemptionRate)
	case s.PreemptionRate*s.Boot.Hours() >= 1:
		return fmt.Errorf("preemption-rate %.4g/h: a node would live %s on average, no longer than the %s it takes to boot, so almost none would come up and the replay would only relaunch nodes; lower preemption-rate below %.4g/h or boot",
			s.PreemptionRate, time.Duration(float64(time.Hour)/s.PreemptionRate).Round(time.Second), s.Boot, 1/s.Boot.Hours())
	case s.Tier == trainyard.LowPriority && !s.Size.LowPriorityCapable:
		return fmt.Errorf("size %s has no low_priority tier; use tier dedicated", s.Size.Name)
	}
	return nil
}

// Check is Validate, and that s can replay trace t: a Philly trace counts GPUs, so its
// nodes need GPUs.
func (s Setting) Check(t Trace) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if t.Format == Philly && s.Size.GPUs == 0 {
		return fmt.Errorf("size %s has no GPUs, and a Philly trace counts GPUs per job; choose a GPU size (STANDARD_NC24, say, of 4 GPUs), or replay a submit,duration,nodes trace", s.Size.Name)
	}
	narrowest := 0
	for _, j := range t.Jobs {
		if n := j.NodesOn(s.Size); narrowest == 0 || n < narrowest {
			narrowest = n
		}
	}
	if narrowest > s.Max {
		return fmt.Errorf("max %d: every job of the trace wants more nodes together, the narrowest %d, so none would run; raise max to %d or more", s.Max, narrowest, narrowest)
	}
	return nil
}

// Target is the compute target the setting describes, as the server would hold it.
func (s Setting) Target() trainyard.ComputeTarget {
	return trainyard.ComputeTarget{Workspace: "default", Name: "sim", Type: trainyard.TypeAmlCompute, Size: s.Size.Name,
		Tier: s.Tier, State: trainyard.Succeeded,
		Scale: trainyard.ScaleSettings{MinNodes: s.Min, MaxNodes: s.Max, IdleTimeBeforeScaleDown: s.Idle}}
}

// Policy is what the autoscaler steers the setting's target by: autoscale.PolicyOf, as the
// server's loop builds it.
func (s Setting) Policy() autoscale.Policy {
	return autoscale.PolicyOf(s.Target(), s.BootTimeout, HeartbeatTimeout)
}

// Describe says the setting in one line, e.g. "STANDARD_NC24, 0 to 50 nodes, idle 2m0s,
// boot 3m0s, dedicated at $3.60 a node-hour"; the server's timings where they are not its own.
func (s Setting) Describe() string {
	d := fmt.Sprintf("%s, %d to %d nodes, idle %s, boot %s, %s at $%s a node-hour", s.Size.Name, s.Min, s.Max, s.Idle, s.Boot,
		s.Tier, dollars(s.Size.HourlyPrice(s.Tier)))
	if s.Tier == trainyard.LowPriority {
		d += fmt.Sprintf(" (preemption %.4g per node-hour, seed %d, %d retries)", s.PreemptionRate, s.Seed, s.MaxRetries)
	}
	if def := DefaultSetting(); s.BootTimeout != def.BootTimeout || s.Interval != def.Interval {
		d += fmt.Sprintf(", boot-timeout %s, interval %s", s.BootTimeout, s.Interval)
	}
	return d
}

// dollars writes a price to four significant digits and at least cents: 3.60, 0.293, 0.0292.
func dollars(p float64) string {
	d := strconv.FormatFloat(p, 'g', 4, 64)
	whole, cents, _ := strings.Cut(d, ".")
	if strings.Contains(d, "e") || len(cents) >= 2 {
		return d
	}
	return whole + "." + (cents + "00")[:2]
}

func whole(key, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("%s %q: too large for a whole number; no trace needs that many", key, v)
	}
	if err != nil {
		return 0, fmt.Errorf("%s %q: want a whole number", key, v)
	}
	return n, nil
}

// duration reads a number of seconds (120), a Go duration (120s, 30m, 1h30m), a number of
// days (2d, 1d12h) or an ISO-8601 duration as compute YAMLs write idle times (PT30M, P1DT12H).
func duration(key, v string) (time.Duration, error) {
	bad := fmt.Errorf("%s %q: want seconds (120), a duration like 120s, 30m, 1h30m or 2d, or ISO-8601 like PT30M, under a century", key, v)
	iso := strings.HasPrefix(strings.ToUpper(v), "P")
	if days, rest, ok := strings.Cut(strings.ToLower(v), "d"); ok && !iso {
		f, err := strconv.ParseFloat(days, 64)
		if err != nil || !(math.Abs(f) < 100*365) {
			return 0, bad
		}
		d := time.Duration(f * float64(24*time.Hour))
		if rest != "" { // 1d12h
			more, err := time.ParseDuration(rest)
			if err != nil || more < 0 {
				return 0, bad
			}
			d += more
		}
		return d, nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if !(math.Abs(f) < 100*365*24*3600) { // NaN, infinite, or beyond a century
			return 0, bad
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	if iso {
		d, err := iso8601(v)
		if err != nil || d > 100*365*24*time.Hour {
			return 0, bad
		}
		return d, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, bad
	}
	return d, nil
}

// iso8601 reads an ISO-8601 duration of days, hours, minutes and seconds: PT120S, P1DT12H.
func iso8601(v string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.ToUpper(v), "P")
	date, clock, hasT := strings.Cut(rest, "T")
	if !ok || rest == "" || hasT && clock == "" {
		return 0, fmt.Errorf("not an ISO-8601 duration")
	}
	var d time.Duration
	for _, part := range []struct {
		text  string
		units map[byte]time.Duration
	}{{date, map[byte]time.Duration{'W': 7 * 24 * time.Hour, 'D': 24 * time.Hour}},
		{clock, map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second}}} {
		num := ""
		for i := 0; i < len(part.text); i++ {
			c := part.text[i]
			if c >= '0' && c <= '9' || c == '.' {
				num += string(c)
				continue
			}
			f, err := strconv.ParseFloat(num, 64)
			unit, known := part.units[c]
			if err != nil || !known {
				return 0, fmt.Errorf("not an ISO-8601 duration")
			}
			d += time.Duration(f * float64(unit))
			num = ""
		}
		if num != "" {
			return 0, fmt.Errorf("not an ISO-8601 duration")
		}
	}
	return d, nil
}

// rate reads preemptions per node-hour, "0.05/h" or "0.05", or per node-day, "1.2/d".
func rate(v string) (float64, error) {
	num, per := v, 1.0
	if i := strings.LastIndexByte(v, '/'); i >= 0 {
		switch strings.ToLower(strings.TrimSpace(v[i+1:])) {
		case "h", "hr", "hour":
		case "d", "day":
			per = 24
		default:
			return 0, fmt.Errorf("preemption-rate %q: write it per node-hour (0.05/h) or per node-day (1.2/d)", v)
		}
		num = strings.TrimSpace(v[:i])
	}
	f, err := strconv.ParseFloat(num, 64)
	if f /= per; err != nil || !(f >= 0 && f <= 3600) { // NaN is neither
		return 0, fmt.Errorf("preemption-rate %q: want preemptions per node-hour, 0 to 3600, e.g. 0.05/h (or per node-day, 1.2/d)", v)
	}
	return f, nil
}
