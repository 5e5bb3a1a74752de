package api

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrorBody is the body of every non-2xx response.
type ErrorBody struct {
	Error Error `json:"error"`
}

// Error is an API error; Code is one of the trainyard error codes ("invalid", "not_found", …).
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// ComputeSpec is the Azure ML v2 compute YAML of every type, also the create and attach
// request. A key that does not apply to the type is refused by name, never ignored.
type ComputeSpec struct {
	Schema                  string            `json:"$schema,omitempty"`
	Name                    string            `json:"name"`
	Type                    string            `json:"type"`
	Description             string            `json:"description,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	Location                string            `json:"location,omitempty"`
	Size                    string            `json:"size,omitempty"`
	Tier                    string            `json:"tier,omitempty"`
	MinInstances            *int              `json:"min_instances,omitempty"`
	MaxInstances            *int              `json:"max_instances,omitempty"`
	IdleTimeBeforeScaleDown *Seconds          `json:"idle_time_before_scale_down,omitempty"`

	// SSHSettings is the admin account of a cluster's or an instance's nodes, or the account
	// trainyard logs in as on an attached machine.
	SSHSettings *SSHSettings `json:"ssh_settings,omitempty"`

	// computeinstance: idle shutdown, in minutes (15 to 4320) or, legacy, as an ISO-8601
	// duration such as "PT30M".
	IdleTimeBeforeShutdownMinutes *int   `json:"idle_time_before_shutdown_minutes,omitempty"`
	IdleTimeBeforeShutdown        string `json:"idle_time_before_shutdown,omitempty"`

	// Attached types: where the target is (one way of: resource_id; subscription_id +
	// resource_group + the type's name key; address; kubeconfig; slurmrestd_url) and its
	// credentials (SPEC §1.4–§1.8).
	ResourceID     string `json:"resource_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	ResourceGroup  string `json:"resource_group,omitempty"`
	VMName         string `json:"vm_name,omitempty"`        // virtualmachine
	ClusterName    string `json:"cluster_name,omitempty"`   // hdinsight
	AccountName    string `json:"account_name,omitempty"`   // batch, datalakeanalytics
	WorkspaceName  string `json:"workspace_name,omitempty"` // databricks
	Address        string `json:"address,omitempty"`        // virtualmachine, hdinsight, slurm: host reached over SSH
	AccessToken    string `json:"access_token,omitempty"`   // databricks; slurm with slurmrestd_url
	Namespace      string `json:"namespace,omitempty"`      // kubernetes (default "default")
	// Kubeconfig is the content of a kubeconfig; KubeconfigFile is its path in a YAML file,
	// which the CLI reads and sends as Kubeconfig. The server never reads client paths.
	Kubeconfig     string `json:"kubeconfig,omitempty"`
	KubeconfigFile string `json:"kubeconfig_file,omitempty"`
	SlurmrestdURL  string `json:"slurmrestd_url,omitempty"` // slurm: http(s)://host:port of slurmrestd

	// Documented keys that this server does not act on yet; a spec that sets them is refused
	// with a message naming the key, never silently accepted.
	SSHPublicAccessEnabled *bool            `json:"ssh_public_access_enabled,omitempty"`
	NetworkSettings        *NetworkSettings `json:"network_settings,omitempty"`
	Identity               *Identity        `json:"identity,omitempty"`
	EnableNodePublicIP     *bool            `json:"enable_node_public_ip,omitempty"`
	Schedules              any              `json:"schedules,omitempty"`
	CreateOnBehalfOf       any              `json:"create_on_behalf_of,omitempty"`
	SetupScripts           any              `json:"setup_scripts,omitempty"`
	CustomApplications     any              `json:"custom_applications,omitempty"`
	EnableSSO              *bool            `json:"enable_sso,omitempty"`
	EnableRootAccess       *bool            `json:"enable_root_access,omitempty"`
	ReleaseQuotaOnStop     *bool            `json:"release_quota_on_stop,omitempty"`
	EnableOSPatching       *bool            `json:"enable_os_patching,omitempty"`
}

// SSHSettings of a compute. For amlcompute: the admin account on its nodes (user, and password
// and/or public key). For computeinstance: the admin's public key. For virtualmachine,
// hdinsight and slurm: the account trainyard logs in as (user, and password or private key).
type SSHSettings struct {
	AdminUsername string `json:"admin_username,omitempty"`
	AdminPassword string `json:"admin_password,omitempty"`
	SSHKeyValue   string `json:"ssh_key_value,omitempty"` // a public key line
	SSHPort       *int   `json:"ssh_port,omitempty"`
	// SSHPrivateKeyFile is a path in a YAML file; the CLI reads the file and sends its content
	// as SSHPrivateKey. The server never reads client paths.
	SSHPrivateKeyFile       string `json:"ssh_private_key_file,omitempty"`
	SSHPrivateKey           string `json:"ssh_private_key,omitempty"`
	SSHPrivateKeyPassphrase string `json:"ssh_private_key_passphrase,omitempty"`
}

// NetworkSettings put a compute's nodes in a virtual network.
type NetworkSettings struct {
	VnetName string `json:"vnet_name,omitempty"`
	Subnet   string `json:"subnet,omitempty"`
}

// Identity is the managed identity of a compute.
type Identity struct {
	Type                   string `json:"type,omitempty"`
	UserAssignedIdentities []any  `json:"user_assigned_identities,omitempty"`
}

// Compute is a compute target as the API returns it. It never carries a credential's value:
// Properties.Credentials names the ones that are set.
type Compute struct {
	Name               string            `json:"name"`
	Workspace          string            `json:"workspace"`
	Type               string            `json:"computeType"`
	IsAttached         bool              `json:"isAttachedCompute"`
	Location           string            `json:"computeLocation,omitempty"`
	Description        string            `json:"description,omitempty"`
	Tags               map[string]string `json:"tags,omitempty"`
	ProvisioningState  string            `json:"provisioningState"`
	ProvisioningErrors []string          `json:"provisioningErrors,omitempty"`
	CreatedOn          time.Time         `json:"createdOn"`
	ModifiedOn         time.Time         `json:"modifiedOn"`
	Properties         ComputeProperties `json:"properties"`
	// RunBasedFor names the job a run-based cluster was created for; it is deleted when that
	// job ends. Empty for a persistent compute.
	RunBasedFor string `json:"runBasedFor,omitempty"`
	// Operation is the compute's latest long-running operation; in the answer to a create,
	// update, delete, attach, start, stop or restart, the one that request began. The same
	// URL is in the answer's Azure-AsyncOperation and Location headers.
	Operation *Operation `json:"operation,omitempty"`
}

// Operation is a long-running operation on a compute (GET /v1/operations/{id}): Kind is
// Create, Update, Delete, Attach, Detach, Start, Stop or Restart; Status is InProgress,
// Succeeded, Failed or Canceled, and Error says why when it Failed or was Canceled.
type Operation struct {
	ID        string          `json:"id"`
	Workspace string          `json:"workspace"`
	Compute   string          `json:"compute"`
	Kind      string          `json:"kind"`
	Status    string          `json:"status"`
	Error     *OperationError `json:"error,omitempty"`
	CreatedAt time.Time       `json:"createdAt"`
	EndedAt   *time.Time      `json:"endedAt,omitempty"`
}

// OperationError says why an operation Failed or was Canceled.
type OperationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Ended reports whether an operation's status is final.
func (o Operation) Ended() bool { return o.Status != "InProgress" && o.Status != "" }

// ComputeProperties are a compute's settings and live status (SPEC §1.2–§1.8, §3.2, §3.3).
// Which fields are set depends on the type.
type ComputeProperties struct {
	VMSize           string          `json:"vmSize,omitempty"`     // amlcompute, computeinstance
	VMPriority       string          `json:"vmPriority,omitempty"` // amlcompute
	ScaleSettings    ScaleSettings   `json:"scaleSettings,omitzero"`
	AllocationState  string          `json:"allocationState,omitempty"`
	CurrentNodeCount int             `json:"currentNodeCount"`
	TargetNodeCount  int             `json:"targetNodeCount"`
	NodeStateCounts  NodeStateCounts `json:"nodeStateCounts"`
	Nodes            []Node          `json:"nodes,omitempty"`
	RecentEvents     []Event         `json:"recentEvents,omitempty"`

	// computeinstance (SPEC §3.3): Creating, Starting, Running, JobRunning, Restarting,
	// Stopping, Stopped, Deleting or CreateFailed; idle shutdown as ISO-8601 minutes ("PT30M").
	State                  string `json:"state,omitempty"`
	IdleTimeBeforeShutdown string `json:"idleTimeBeforeShutdown,omitempty"`

	// Attached types: where the target is and how it is reached.
	ResourceID     string `json:"resourceId,omitempty"`
	SubscriptionID string `json:"subscriptionId,omitempty"`
	ResourceGroup  string `json:"resourceGroup,omitempty"`
	VMName         string `json:"vmName,omitempty"`
	ClusterName    string `json:"clusterName,omitempty"`
	AccountName    string `json:"accountName,omitempty"`
	WorkspaceName  string `json:"workspaceName,omitempty"`
	Address        string `json:"address,omitempty"`
	SSHPort        int    `json:"sshPort,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	SlurmrestdURL  string `json:"slurmrestdUrl,omitempty"`

	// The admin account: of an attached machine, or of a cluster's or an instance's nodes.
	AdminUsername string `json:"adminUserName,omitempty"`
	SSHPublicKey  string `json:"adminUserSshPublicKey,omitempty"`
	// Credentials names the credentials that are set, e.g. ["admin_password"]. Their values
	// are sealed at rest and never leave the server.
	Credentials []string `json:"credentials,omitempty"`
}

// ScaleSettings of a cluster; the idle time is an ISO-8601 duration such as "PT120S".
type ScaleSettings struct {
	MinNodeCount                int    `json:"minNodeCount"`
	MaxNodeCount                int    `json:"maxNodeCount"`
	NodeIdleTimeBeforeScaleDown string `json:"nodeIdleTimeBeforeScaleDown"`
}

// NodeStateCounts counts a cluster's nodes by state.
type NodeStateCounts struct {
	Idle      int `json:"idleNodeCount"`
	Running   int `json:"runningNodeCount"`
	Preparing int `json:"preparingNodeCount"`
	Unusable  int `json:"unusableNodeCount"`
	Leaving   int `json:"leavingNodeCount"`
	Preempted int `json:"preemptedNodeCount"`
}

// Node is one node of a cluster (listNodes).
type Node struct {
	ID          string `json:"nodeId"`
	Address     string `json:"privateIpAddress"`
	Port        int    `json:"port"`
	State       string `json:"nodeState"`
	RunID       string `json:"runId,omitempty"`
	IdleSeconds int64  `json:"idleSeconds,omitempty"`
}

// Event is one entry in a compute's history.
type Event struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// VMSize is one entry of a location's catalog (vmSizes).
type VMSize struct {
	Name               string  `json:"name"`
	Family             string  `json:"family"`
	VCPUs              int     `json:"vCPUs"`
	MemoryGB           float64 `json:"memoryGB"`
	GPUs               int     `json:"gpus"`
	LowPriorityCapable bool    `json:"lowPriorityCapable"`
}

// JobSpec is the Azure ML v2 command-job YAML. On the wire, Code holds the ID of an uploaded
// snapshot instead of a local folder.
type JobSpec struct {
	Schema               string            `json:"$schema,omitempty"`
	Type                 string            `json:"type,omitempty"`
	Name                 string            `json:"name,omitempty"`
	DisplayName          string            `json:"display_name,omitempty"`
	ExperimentName       string            `json:"experiment_name,omitempty"`
	Description          string            `json:"description,omitempty"`
	Tags                 map[string]string `json:"tags,omitempty"`
	Command              string            `json:"command"`
	Code                 string            `json:"code,omitempty"`
	Environment          any               `json:"environment,omitempty"`
	EnvironmentVariables map[string]string `json:"environment_variables,omitempty"`
	Compute              JobCompute        `json:"compute,omitzero"`
	Inputs               map[string]any    `json:"inputs,omitempty"`
	Outputs              map[string]any    `json:"outputs,omitempty"`
	Resources            *Resources        `json:"resources,omitempty"`
	Limits               *Limits           `json:"limits,omitempty"`
	Distribution         any               `json:"distribution,omitempty"`
	// MaxRetries is how many times the job runs again after its node is preempted or lost
	// (default 3, 0 never); RetryOnFailure adds a non-zero exit of the command to the causes.
	MaxRetries     *int `json:"max_retries,omitempty"`
	RetryOnFailure bool `json:"retry_on_failure,omitempty"`
	// Documented keys this server does not act on yet; a job that sets them is refused with a
	// message naming the key.
	Identity      any            `json:"identity,omitempty"`
	QueueSettings any            `json:"queue_settings,omitempty"`
	Services      map[string]any `json:"services,omitempty"`
}

// Resources of a job.
type Resources struct {
	InstanceCount *int   `json:"instance_count,omitempty"` // nil: one node
	InstanceType  string `json:"instance_type,omitempty"`
	ShmSize       string `json:"shm_size,omitempty"`
	DockerArgs    string `json:"docker_args,omitempty"`
}

// Limits of a job.
type Limits struct {
	Timeout *Seconds `json:"timeout,omitempty"`
}

// Job is a job as the API returns it.
type Job struct {
	Name           string            `json:"name"`
	Workspace      string            `json:"workspace"`
	DisplayName    string            `json:"displayName"`
	ExperimentName string            `json:"experimentName"`
	Description    string            `json:"description,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	Compute        string            `json:"compute"`
	// RunBased says Compute is a cluster created for this job alone, from the job's inline
	// compute spec; it is deleted when the job ends.
	RunBased bool   `json:"runBased,omitempty"`
	Command  string `json:"command"`
	// EnvironmentVariables lists the names only: values may be secrets and never leave the server.
	EnvironmentVariables []string           `json:"environmentVariables,omitempty"`
	Code                 string             `json:"code,omitempty"`
	InstanceCount        int                `json:"instanceCount"`
	Timeout              string             `json:"timeout,omitempty"`
	Status               string             `json:"status"`
	WaitReason           string             `json:"waitReason,omitempty"`
	Node                 string             `json:"node,omitempty"`
	ExitCode             *int               `json:"exitCode,omitempty"`
	Error                *JobError          `json:"error,omitempty"`
	CreatedAt            time.Time          `json:"createdAt"`
	StartedAt            *time.Time         `json:"startedAt,omitempty"`
	EndedAt              *time.Time         `json:"endedAt,omitempty"`
	Metrics              map[string]float64 `json:"metrics,omitempty"`
	// The container the job runs in: its environment, image, /dev/shm size and extra
	// docker run options. Absent for jobs that run as processes.
	Environment string `json:"environment,omitempty"`
	Image       string `json:"image,omitempty"`
	ShmSize     string `json:"shmSize,omitempty"`
	DockerArgs  string `json:"dockerArgs,omitempty"`
	// Distribution is how a multi-process job is launched ("pytorch, 1 process(es) per node").
	Distribution string `json:"distribution,omitempty"`
	// ProcessesPerNode is distribution.process_count_per_instance (1 when not given).
	ProcessesPerNode int `json:"processCountPerInstance,omitempty"`
	// Ranks are the nodes of a multi-node job once placed, rank 0 first.
	Ranks []JobRank `json:"ranks,omitempty"`
	// Attempt is the job's current attempt, from 1, of at most 1 + MaxRetries; Attempts lists
	// every one placed so far.
	Attempt        int          `json:"attempt"`
	MaxRetries     int          `json:"maxRetries"`
	RetryOnFailure bool         `json:"retryOnFailure,omitempty"`
	Attempts       []JobAttempt `json:"attempts,omitempty"`
}

// JobAttempt is one run of a job on its nodes.
type JobAttempt struct {
	Attempt int        `json:"attempt"`
	Nodes   []string   `json:"nodes"`
	Started time.Time  `json:"started"`
	Ended   *time.Time `json:"ended,omitempty"`
	// Cause is the error code that ended it (Preempted, NodeLost, UserError, ...); empty while
	// it runs or when it completed.
	Cause   string `json:"cause,omitempty"`
	Message string `json:"message,omitempty"`
}

// JobRank is one node of a multi-node job.
type JobRank struct {
	Rank     int    `json:"rank"`
	Node     string `json:"node"`
	State    string `json:"state"` // placed, running, finalizing or done
	ExitCode *int   `json:"exitCode,omitempty"`
}

// JobError says why a job failed.
type JobError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Metric is one logged value.
type Metric struct {
	Name  string     `json:"name"`
	Value float64    `json:"value"`
	Step  *int64     `json:"step"`
	Time  *time.Time `json:"time,omitempty"`
}

// MetricsBody is what a job posts to /v1/run/metrics.
type MetricsBody struct {
	Metrics []Metric `json:"metrics"`
}

// Snapshot is an uploaded code snapshot.
type Snapshot struct {
	ID    string `json:"id"`
	Bytes int64  `json:"bytes"`
}

// Seconds is a duration written either as a number of seconds (120) or as an ISO-8601 duration
// ("PT2M", "PT120S", "P1DT2H"); it marshals as whole seconds.
type Seconds struct{ time.Duration }

func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatInt(int64(s.Duration/time.Second), 10)), nil
}

func (s *Seconds) UnmarshalJSON(b []byte) error {
	var n float64
	if err := json.Unmarshal(b, &n); err == nil {
		s.Duration = time.Duration(n * float64(time.Second))
		return nil
	}
	var str string
	if err := json.Unmarshal(b, &str); err != nil {
		return fmt.Errorf("want seconds or an ISO-8601 duration like PT2M, got %s", b)
	}
	d, err := ParseDuration(str)
	s.Duration = d
	return err
}

// ParseDuration reads a number of seconds or an ISO-8601 duration (days, hours, minutes,
// seconds; no years or months).
func ParseDuration(v string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		return time.Duration(n * float64(time.Second)), nil
	}
	bad := fmt.Errorf("%q is neither seconds nor an ISO-8601 duration like PT2M or P1DT12H", v)
	u := strings.ToUpper(v)
	if !strings.HasPrefix(u, "P") || len(u) < 3 {
		return 0, bad
	}
	var d time.Duration
	inTime := false
	num := ""
	for _, c := range u[1:] {
		switch {
		case c == 'T':
			inTime = true
		case c >= '0' && c <= '9' || c == '.':
			num += string(c)
		default:
			f, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, bad
			}
			unit := map[string]time.Duration{"D": 24 * time.Hour, "W": 7 * 24 * time.Hour, "TH": time.Hour, "TM": time.Minute, "TS": time.Second}
			key := string(c)
			if inTime {
				key = "T" + key
			}
			mult, ok := unit[key]
			if !ok {
				return 0, bad
			}
			d += time.Duration(f * float64(mult))
			num = ""
		}
	}
	if num != "" {
		return 0, bad
	}
	return d, nil
}

// ISODuration writes d as an ISO-8601 duration of whole seconds, e.g. "PT120S".
func ISODuration(d time.Duration) string {
	return fmt.Sprintf("PT%dS", int64(d/time.Second))
}

// ComputeUpdate changes what may change on a compute: scale settings, tags, description.
type ComputeUpdate struct {
	MinInstances            *int              `json:"min_instances,omitempty"`
	MaxInstances            *int              `json:"max_instances,omitempty"`
	IdleTimeBeforeScaleDown *Seconds          `json:"idle_time_before_scale_down,omitempty"`
	Tags                    map[string]string `json:"tags,omitempty"`
	Description             *string           `json:"description,omitempty"`
}

// NameCheckRequest asks whether a compute name is free and valid.
type NameCheckRequest struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// NameCheckResponse answers a NameCheckRequest; Reason is Invalid or AlreadyExists.
type NameCheckResponse struct {
	Available bool   `json:"nameAvailable"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
}

// Usage is one quota pool of a workspace in a location: a VM family or the low-priority pool.
type Usage struct {
	Pool       string `json:"pool"`
	Location   string `json:"location"`
	UsedCores  int    `json:"usedCores"`
	LimitCores int    `json:"limitCores"`
}

// QuotaUpdate sets a workspace's core limit for a pool.
type QuotaUpdate struct {
	Pool  string `json:"pool"`
	Limit int    `json:"limit"`
}
