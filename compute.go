package trainyard

import (
	"fmt"
	"strings"
	"time"
)

// ComputeType is the kind of a compute target (DESIGN.md, "Compute kinds").
type ComputeType string

const (
	TypeLocal      ComputeType = "local"      // implicit: the server's own machine, never a record
	TypeAmlCompute ComputeType = "amlcompute" // autoscaling cluster of managed nodes

	TypeComputeInstance ComputeType = "computeinstance" // one managed node, started and stopped by its owner

	// Attached types: the machine or service exists elsewhere; the record says where it is and
	// how to reach it, and detaching removes only the record.
	TypeVirtualMachine    ComputeType = "virtualmachine"    // a machine reached over SSH
	TypeHDInsight         ComputeType = "hdinsight"         // a Spark cluster
	TypeBatch             ComputeType = "batch"             // a batch service account
	TypeDatabricks        ComputeType = "databricks"        // a Databricks workspace and its token
	TypeDataLakeAnalytics ComputeType = "datalakeanalytics" // a Data Lake Analytics account
	TypeKubernetes        ComputeType = "kubernetes"        // a namespace of a Kubernetes cluster
	TypeSlurm             ComputeType = "slurm"             // a Slurm cluster (sbatch over SSH, or slurmrestd)
)

// ComputeTypes lists every type a record may have, managed first.
var ComputeTypes = []ComputeType{TypeAmlCompute, TypeComputeInstance, TypeVirtualMachine, TypeHDInsight, TypeBatch,
	TypeDatabricks, TypeDataLakeAnalytics, TypeKubernetes, TypeSlurm}

// typeAliases are the other names a type is known by (DESIGN.md, "Compute kinds").
var typeAliases = map[string]ComputeType{
	"cluster": TypeAmlCompute, "instance": TypeComputeInstance, "remote": TypeVirtualMachine,
	"spark": TypeHDInsight, "adla": TypeDataLakeAnalytics,
}

// Attached reports whether t is brought by the user (isAttachedCompute): such a target is
// detached, never deleted.
func (t ComputeType) Attached() bool {
	return t != TypeAmlCompute && t != TypeComputeInstance && t != TypeLocal && t != ""
}

// TypeList describes every type with its alias, for messages and help.
func TypeList() string {
	var b strings.Builder
	for i, t := range ComputeTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
		for a, at := range typeAliases {
			if at == t {
				b.WriteString(" (alias " + a + ")")
			}
		}
	}
	return b.String()
}

// ParseComputeType accepts the API names, the reference system's computeType spellings
// (AmlCompute, VirtualMachine, …) and the aliases, in any case.
func ParseComputeType(s string) (ComputeType, error) {
	l := strings.ToLower(s)
	if t, ok := typeAliases[l]; ok {
		return t, nil
	}
	for _, t := range ComputeTypes {
		if l == string(t) {
			return t, nil
		}
	}
	switch l {
	case "local":
		return "", Errorf(Invalid, "type %q: the local target is implicit and needs no record; submit jobs with --compute local", s)
	case "aks":
		return "", Errorf(Invalid, "type %q: attach a Kubernetes cluster with type kubernetes", s)
	case "synapsespark", "synapse":
		return "", Errorf(Invalid, "type %q is not supported: Synapse Spark pools exist only in Azure; attach a Spark cluster with type hdinsight (alias spark). Types trainyard knows: %s", s, TypeList())
	}
	return "", Errorf(Invalid, "type %q is not a compute type trainyard knows; use one of: %s", s, TypeList())
}

// Tier is the priority of a cluster's nodes.
type Tier string

const (
	Dedicated   Tier = "dedicated"
	LowPriority Tier = "low_priority"
)

// ParseTier accepts every spelling the reference system uses: dedicated, low_priority,
// lowpriority, LowPriority.
func ParseTier(s string) (Tier, error) {
	switch strings.ToLower(strings.ReplaceAll(s, "_", "")) {
	case "", "dedicated":
		return Dedicated, nil
	case "lowpriority":
		return LowPriority, nil
	}
	return "", Errorf(Invalid, "tier %q: must be dedicated or low_priority (lowpriority also accepted)", s)
}

// ProvisioningState is the state of a compute record (SPEC §3.1).
type ProvisioningState string

const (
	Creating  ProvisioningState = "Creating"
	Succeeded ProvisioningState = "Succeeded"
	Updating  ProvisioningState = "Updating"
	Deleting  ProvisioningState = "Deleting"
	Failed    ProvisioningState = "Failed"
	Canceled  ProvisioningState = "Canceled"
)

// ScaleSettings bound a cluster's node count and say when idle nodes go.
type ScaleSettings struct {
	MinNodes                int
	MaxNodes                int
	IdleTimeBeforeScaleDown time.Duration
}

// Defaults of a cluster created without them (SPEC §2.1, the v2 YAML reference).
const (
	DefaultMaxNodes                = 1
	DefaultIdleTimeBeforeScaleDown = 120 * time.Second
)

// Validate checks the bounds; its errors name the field, the value and the rule.
func (s ScaleSettings) Validate() error {
	switch {
	case s.MinNodes < 0:
		return Errorf(Invalid, "min_instances %d: must be 0 or more", s.MinNodes)
	case s.MaxNodes < 0:
		return Errorf(Invalid, "max_instances %d: must be 0 or more", s.MaxNodes)
	case s.MaxNodes < s.MinNodes:
		return Errorf(Invalid, "max_instances %d is below min_instances %d: max must be >= min", s.MaxNodes, s.MinNodes)
	case s.IdleTimeBeforeScaleDown < 0:
		return Errorf(Invalid, "idle_time_before_scale_down %s: must be 0 or more seconds", s.IdleTimeBeforeScaleDown)
	}
	return nil
}

// ComputeTarget is a named compute record of a workspace.
type ComputeTarget struct {
	Workspace   string
	Name        string
	Type        ComputeType
	Location    string
	Size        string
	Tier        Tier
	Scale       ScaleSettings
	Description string
	Tags        map[string]string

	// SSH is the admin account of a cluster's or an instance's nodes (ssh_settings); nil when
	// none was given.
	SSH *SSHSettings
	// Instance holds what only a compute instance has; nil for other types.
	Instance *InstanceSettings
	// Attach says where an attached target is and how it is reached; nil for managed types.
	Attach *AttachConfig

	State      ProvisioningState
	Errors     []string // provisioning errors, newest last
	CreatedAt  time.Time
	ModifiedAt time.Time
}

// reservedNames may not name a compute target (SPEC §3.12).
var reservedNames = []string{"amlcompute", "local", "containerinstance"}

// ComputeNameRule is the rule of SPEC §3.12, quoted in every error about a compute name.
const ComputeNameRule = "3 to 24 characters, letters, digits and '-', starting with a letter, " +
	"and not ending in '-' followed by digits only (pattern ^[a-zA-Z](?![a-zA-Z0-9-]*-\\d+$)[a-zA-Z0-9\\-]{2,23}$)"

// ValidateComputeName applies the naming rule of a compute type. The same function serves the
// server, the CLI and the name-availability check, so they never disagree (case C-07).
func ValidateComputeName(t ComputeType, name string) error {
	bad := func(why string) error {
		return Errorf(Invalid, "compute name %q is not valid for type %s: %s; the rule: %s", name, t, why, ComputeNameRule)
	}
	if n := len(name); n < 3 || n > 24 {
		return bad(fmt.Sprintf("it has %d characters", n))
	}
	if c := name[0]; !isLetter(c) {
		return bad("it must start with a letter")
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !isLetter(c) && !isDigit(c) && c != '-' {
			return bad(fmt.Sprintf("character %q is not allowed", c))
		}
	}
	if i := strings.LastIndexByte(name, '-'); i >= 0 && allDigits(name[i+1:]) {
		if i == len(name)-1 {
			return bad("it ends in '-'")
		}
		return bad(fmt.Sprintf("it ends in %q; put a letter after the last '-', e.g. %q", name[i:], name[:i]+"-n"+name[i+1:]))
	}
	for _, r := range reservedNames {
		if strings.EqualFold(name, r) {
			return Errorf(Invalid, "compute name %q is reserved; choose another name", name)
		}
	}
	return nil
}

// WorkspaceNameRule is the rule for workspace names (SPEC §3.12).
const WorkspaceNameRule = "2 to 32 characters, letters, digits, '_' and '-', starting with a letter or digit"

// ValidateWorkspaceName applies WorkspaceNameRule.
func ValidateWorkspaceName(name string) error {
	ok := len(name) >= 2 && len(name) <= 32 && (isLetter(name[0]) || isDigit(name[0]))
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = isLetter(c) || isDigit(c) || c == '_' || c == '-'
	}
	if !ok {
		return Errorf(Invalid, "workspace name %q is not valid: %s", name, WorkspaceNameRule)
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}
