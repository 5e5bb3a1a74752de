package api

// RegisterRequest is what a new node's agent sends, authenticated with its one-time join token.
type RegisterRequest struct {
	NodeID  string `json:"node_id"`
	Address string `json:"address"`
	Port    int    `json:"port"`
}

// RegisterResponse gives the agent its own token.
type RegisterResponse struct {
	NodeToken string `json:"node_token"`
}

// SyncRequest is the agent's heartbeat: what it is running. When Wait is set and the node has
// nothing to do, the server holds the request until there is work or Wait milliseconds pass.
type SyncRequest struct {
	Running []int64 `json:"running"`
	WaitMS  int     `json:"wait_ms,omitempty"`
}

// SyncResponse tells the agent what to do next.
type SyncResponse struct {
	Assignment *Assignment `json:"assignment,omitempty"`
	// Stop lists running jobs the agent must stop (cancel requested, or no longer its own).
	Stop []int64 `json:"stop,omitempty"`
	// IntervalMS is how long the agent waits before its next sync.
	IntervalMS int `json:"interval_ms"`
	// HeartbeatTimeoutMS is how long the server lets a node be silent before it declares it
	// lost, deletes it and runs its jobs again elsewhere.
	HeartbeatTimeoutMS int64 `json:"heartbeat_timeout_ms,omitempty"`
}

// Assignment is a job for the agent to run.
type Assignment struct {
	JobID       int64             `json:"job_id"`
	Workspace   string            `json:"workspace"`
	Name        string            `json:"name"`
	Command     string            `json:"command"`
	Env         map[string]string `json:"env"`
	HasSnapshot bool              `json:"has_snapshot"`
	// HasCheckpoint says that an earlier attempt saved a checkpoint, which this one restores.
	HasCheckpoint bool     `json:"has_checkpoint,omitempty"`
	TimeoutMS     int64    `json:"timeout_ms,omitempty"`
	RunToken      string   `json:"run_token"`
	Outputs       []string `json:"outputs,omitempty"`
	// Image, when set, runs the command in a container of that image on the node's engine.
	Image      string `json:"image,omitempty"`
	ShmSize    int64  `json:"shm_size,omitempty"`
	DockerArgs string `json:"docker_args,omitempty"`
	// Rank is this node's rank in a multi-node job (0 for a single-node job); only rank 0
	// uploads outputs.
	Rank int `json:"rank,omitempty"`
	// Nodes is the size of the gang the node is a rank of; 0 for a job that is no gang.
	Nodes int `json:"nodes,omitempty"`
	// Attempt is the job's attempt this assignment runs, from 1; every report names it, and
	// one about an attempt that was superseded is refused (409), so the node stops it.
	Attempt int `json:"attempt"`
	// CheckpointIntervalMS is how often the node sends $TRAINYARD_CHECKPOINT_DIR while it
	// changes (and once more when the command ends).
	CheckpointIntervalMS int64 `json:"checkpoint_interval_ms,omitempty"`
}

// StatusRequest reports a job's progress on its node: Running or Finalizing.
type StatusRequest struct {
	Status string `json:"status"`
}

// FinishRequest reports how a job ended on its node.
type FinishRequest struct {
	ExitCode *int      `json:"exit_code,omitempty"`
	Canceled bool      `json:"canceled,omitempty"`
	Error    *JobError `json:"error,omitempty"`
}

// LogAppendResponse says how many bytes of the log the server holds.
type LogAppendResponse struct {
	Size int64 `json:"size"`
}

// PreemptRequest says why a node is taken back.
type PreemptRequest struct {
	Reason string `json:"reason,omitempty"`
}

// PreemptResponse says what became of a preempted node's job: it stops, and runs again as
// its next attempt when it has retries left.
type PreemptResponse struct {
	Node        string `json:"node"`
	Compute     string `json:"compute"`
	Job         string `json:"job,omitempty"`
	RunsAgain   bool   `json:"runsAgain"`
	Attempt     int    `json:"attempt,omitempty"` // the attempt that stops
	MaxAttempts int    `json:"maxAttempts,omitempty"`
}
