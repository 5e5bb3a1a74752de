package trainyard

import (
	"fmt"
	"time"
)

// JobStatus is the status of a job, with the reference system's names (SPEC §3.4).
type JobStatus string

const (
	JobStarting        JobStatus = "Starting"        // accepted
	JobQueued          JobStatus = "Queued"          // waiting for a node; WaitReason says why
	JobPreparing       JobStatus = "Preparing"       // its image is being built (no node yet), or it is placed on a node and its code unpacked
	JobRunning         JobStatus = "Running"         // the command runs
	JobFinalizing      JobStatus = "Finalizing"      // the command ended, outputs are uploaded
	JobCancelRequested JobStatus = "CancelRequested" // cancel asked, the node is stopping it
	JobCompleted       JobStatus = "Completed"
	JobFailed          JobStatus = "Failed"
	JobCanceled        JobStatus = "Canceled"
)

// Terminal reports whether s is final.
func (s JobStatus) Terminal() bool {
	return s == JobCompleted || s == JobFailed || s == JobCanceled
}

// OnNode reports whether a job in status s occupies a node.
func (s JobStatus) OnNode() bool {
	return s == JobPreparing || s == JobRunning || s == JobFinalizing || s == JobCancelRequested
}

// CanBecome reports whether a job may move from s to next. Terminal states are final; a job
// never goes back to the queue except through a retry, which is a new attempt.
func (s JobStatus) CanBecome(next JobStatus) bool {
	if s.Terminal() {
		return false
	}
	switch next {
	case JobQueued:
		return s == JobStarting || s == JobPreparing // the image is ready
	case JobPreparing:
		return s == JobStarting || s == JobQueued
	case JobRunning:
		return s == JobPreparing
	case JobFinalizing:
		return s == JobRunning || s == JobCancelRequested
	case JobCancelRequested:
		return s != JobStarting && s != JobQueued
	case JobCompleted:
		return s == JobRunning || s == JobFinalizing
	case JobFailed, JobCanceled:
		return true
	}
	return false
}

// Wait reasons carried by every queued job, so nothing waits silently.
const (
	WaitWaitingForNodes = "WaitingForNodes" // the autoscaler is bringing nodes
	WaitNodesBusy       = "NodesBusy"       // the cluster is at max and every node is busy
	WaitComputeFailed   = "ComputeFailed"   // the target is in Failed state
	WaitLocalBusy       = "LocalBusy"       // the server's own machine runs other jobs
	WaitBuildingImage   = "BuildingImage"   // (Preparing) the environment's image is being built
	WaitRequeued        = "Requeued"        // an attempt ended with its node; the next one waits
)

// GangWait is the wait reason of a job that takes nodes of compute together, ready of them
// idle: "WaitingForNodes k/N: ...". The autoscaler's reasons for the compute leave it as it is,
// since k/N says more about the job than the compute's counts.
func GangWait(ready, nodes int, compute string) string {
	return fmt.Sprintf("%s %d/%d: %d of the %d nodes this job takes together are idle on %s", WaitWaitingForNodes, ready, nodes, ready, nodes, compute)
}

// Job is one command job of a workspace.
type Job struct {
	Workspace      string
	Name           string
	DisplayName    string
	ExperimentName string
	Description    string
	Tags           map[string]string
	Compute        string // a compute name, or "local"

	Command       string // with inputs substituted
	Environment   map[string]string
	Snapshot      string // content hash of the code snapshot, empty without code
	Timeout       time.Duration
	InstanceCount int
	Distribution  Distribution // zero for a plain job

	// The container the command runs in; Image empty runs it as a process on the node.
	EnvironmentRef string // NAME:VERSION of its environment
	Image          string
	ShmSize        int64 // bytes; 0 is the default, 2 GiB
	DockerArgs     string
	// BuildLog names the image build the job waited for, whose log leads the job's logs.
	BuildLog string

	Retry Retry
	// Attempt is the job's current attempt, from 1; a job whose node is preempted or lost
	// runs again as the next one.
	Attempt int

	Status     JobStatus
	WaitReason string
	Node       string
	ExitCode   *int
	Error      *JobError

	CreatedAt time.Time
	StartedAt time.Time
	EndedAt   time.Time
}

// JobError says why a job failed or was canceled by the system.
type JobError struct {
	Code    string
	Message string
}

// Job error codes.
const (
	ErrUserError  = "UserError"  // the command exited non-zero
	ErrJobTimeout = "JobTimeout" // limits.timeout was reached
	ErrNodeLost   = "NodeLost"   // the node stopped answering
	ErrPreempted  = "Preempted"  // the low-priority node was taken back
	ErrSystem     = "SystemError"
	// ErrComputeFailed: the run-based cluster created for the job failed to provision.
	ErrComputeFailed = "ComputeFailed"
	// ErrEnvironmentBuildFailed: the image of the job's environment could not be built.
	ErrEnvironmentBuildFailed = "EnvironmentBuildFailed"
)

// Ranked reports whether the job runs as ranks, each node under its rank's command and
// variables: a job of several nodes, or one of a distribution, whose launcher starts its
// processes also on a single node.
func (j Job) Ranked() bool { return j.InstanceCount > 1 || j.Distribution.Type != "" }
