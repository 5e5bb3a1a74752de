package trainyard

import (
	"maps"
	"slices"
	"strings"
)

// Run-based clusters (SPEC §1.2, "creation modes"): a job may carry an inline compute spec
// instead of a compute's name; the server then creates a cluster for that job alone, queues the
// job on it, and deletes it when the job ends. Such a cluster cannot be reused by other jobs.
const (
	// ReservedTagPrefix begins the tags only the server sets; users may not set them.
	ReservedTagPrefix = "trainyard."
	// RunBasedTag marks a run-based cluster; its value is the name of its job.
	RunBasedTag = ReservedTagPrefix + "run-based-for"
)

// RunBasedFor returns the name of the job c was created for, or "" for a persistent compute.
func (c ComputeTarget) RunBasedFor() string { return c.Tags[RunBasedTag] }

// CheckTags refuses a tag key the server reserves for itself.
func CheckTags(tags map[string]string) error {
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if strings.HasPrefix(strings.ToLower(k), ReservedTagPrefix) {
			return Errorf(Invalid, "tags: key %q: keys starting with %q are set by the server only; rename the tag", k, ReservedTagPrefix)
		}
	}
	return nil
}

// runBasedSlug is the most of a job's name a run-based cluster's name keeps.
const runBasedSlug = 13

// RunBasedName names the run-based cluster of job jobName: "run-", up to 13 characters of the
// job's name (lower case, other characters as '-'), then "-" and suffix, e.g.
// "run-keen-otter-4f-kx3f9". suffix must start with a letter so that the name never ends in
// '-' and digits; with 5 characters the name fits the compute name rule.
func RunBasedName(jobName, suffix string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(jobName) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	slug := b.String()
	if len(slug) > runBasedSlug {
		slug = slug[:runBasedSlug]
	}
	slug = strings.TrimRight(slug, "-")
	if slug == "" {
		return "run-" + suffix
	}
	return "run-" + slug + "-" + suffix
}
