package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// syncInterval is how soon an agent syncs again after an answer; the server chooses it and
// agents follow, so it can grow with the number of nodes.
const syncInterval = 0

// maxSyncWait bounds how long a sync is held while there is nothing to say.
const maxSyncWait = 10 * time.Second

// touchEvery is how often a held sync records the node's contact again.
const touchEvery = time.Second

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var req api.RegisterRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	nodeID := principal(r).Subject
	tok, err := s.Store.RegisterNode(r.Context(), nodeID, req.Address, req.Port)
	if err != nil {
		return err
	}
	n, _ := s.Store.Node(r.Context(), nodeID)
	s.Store.AddEvent(r.Context(), n.Workspace, n.Compute, "node", "node "+nodeID+" registered and is idle")
	s.Log.Info("node registered", "node_id", nodeID, "compute", n.Compute)
	s.Kick()
	writeJSON(w, http.StatusOK, api.RegisterResponse{NodeToken: tok})
	return nil
}

// sync is the agent's heartbeat and lease in one call: it records contact, tells the agent
// which jobs to stop, and hands it work. When there is nothing to say it holds the request
// until something changes or the agent's wait ends, so work placed on an idle node starts at
// once.
func (s *Server) sync(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	nodeID := principal(r).Subject
	var req api.SyncRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	deadline := time.Now().Add(min(time.Duration(req.WaitMS)*time.Millisecond, maxSyncWait))
	var touched time.Time
	for {
		changed := s.changed.C()
		// The sync is the heartbeat: recorded when it comes, and again while it is held open,
		// but not on every wake-up of a busy server.
		if time.Since(touched) >= touchEvery {
			if err := s.Store.Touch(ctx, nodeID); err != nil {
				return err
			}
			touched = time.Now()
		}
		resp, err := s.syncOnce(r, nodeID, req.Running)
		if err != nil {
			return err
		}
		if resp.Assignment != nil || len(resp.Stop) > 0 || !time.Now().Before(deadline) {
			writeJSON(w, http.StatusOK, resp)
			return nil
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return nil
		}
	}
}

func (s *Server) syncOnce(r *http.Request, nodeID string, running []int64) (api.SyncResponse, error) {
	ctx := r.Context()
	resp := api.SyncResponse{IntervalMS: syncInterval, HeartbeatTimeoutMS: s.HeartbeatTimeout.Milliseconds()}
	stop, err := s.Store.CancelRequested(ctx, nodeID)
	if err != nil {
		return resp, err
	}
	resp.Stop = stop
	node, err := s.Store.Node(ctx, nodeID)
	if err != nil {
		return resp, err
	}
	// Work the agent runs that is no longer its own (finished elsewhere, or the node was
	// declared lost meanwhile) must stop: the same attempt never runs twice. So must the work
	// of a preempted node, which then runs again elsewhere.
	for _, id := range running {
		if node.State == trainyard.NodePreempted {
			resp.Stop = append(resp.Stop, id)
			continue
		}
		j, err := s.Store.JobByID(ctx, id)
		if err != nil && trainyard.ErrorCode(err) != trainyard.NotFound {
			return resp, err
		}
		if err != nil || !s.onNode(ctx, j, nodeID) || j.Status.Terminal() {
			resp.Stop = append(resp.Stop, id)
		}
	}
	if len(running) > 0 {
		return resp, nil
	}
	a, ok, err := s.Store.Place(ctx, nodeID, running)
	if err != nil || !ok {
		return resp, err
	}
	j := a.Job
	s.Log.Info("job placed", "job", j.Name, "workspace", j.Workspace, "node_id", nodeID, "rank", a.Rank)
	if a.Gang.Nodes > 1 {
		s.Notify() // the gang's other nodes wait in their syncs for their ranks
	}
	env, command := j.Environment, j.Command
	if a.Gang.Nodes > 0 {
		command = trainyard.RankCommand(j.Distribution, a.Gang, a.Rank, j.Command)
		env = maps.Clone(j.Environment)
		if env == nil {
			env = map[string]string{}
		}
		maps.Copy(env, trainyard.RankEnv(j.Distribution, a.Gang, a.Rank))
	}
	resp.Assignment = &api.Assignment{
		JobID: j.ID, Workspace: j.Workspace, Name: j.Name, Command: command, Env: env,
		HasSnapshot: j.Snapshot != "", HasCheckpoint: fileSize(s.checkpointPath(j.ID)) > 0, TimeoutMS: j.Timeout.Milliseconds(), RunToken: a.RunToken,
		Outputs: outputNames(j), Image: j.Image, ShmSize: j.ShmSize, DockerArgs: j.DockerArgs, Rank: a.Rank, Nodes: a.Gang.Nodes,
		Attempt: j.Attempt, CheckpointIntervalMS: s.CheckpointInterval.Milliseconds(),
	}
	return resp, nil
}

// onNode reports whether job j runs on node nodeID: as its node, or as a rank of a gang.
func (s *Server) onNode(ctx context.Context, j store.JobRow, nodeID string) bool {
	if j.Node == nodeID {
		return true
	}
	if !j.Ranked() {
		return false
	}
	_, ok, err := s.Store.RankOf(ctx, j.ID, nodeID)
	return err == nil && ok
}

// outputNames lists the named outputs of a job's spec, whose folders the agent creates.
func outputNames(j store.JobRow) []string {
	var spec api.JobSpec
	if json.Unmarshal([]byte(j.Spec), &spec) != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(spec.Outputs))
}

// agentJob parses the job ID of an agent route.
func agentJob(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, trainyard.Errorf(trainyard.Invalid, "job id %q is not a number", r.PathValue("id"))
	}
	return id, nil
}

// ownJob loads a job and checks that it is placed on the calling node.
func (s *Server) ownJob(r *http.Request) (store.JobRow, error) {
	id, err := agentJob(r)
	if err != nil {
		return store.JobRow{}, err
	}
	j, err := s.Store.JobByID(r.Context(), id)
	if err != nil {
		return j, err
	}
	if !s.onNode(r.Context(), j, principal(r).Subject) {
		return j, trainyard.Errorf(trainyard.Forbidden, "job %d is not placed on this node", id)
	}
	return j, nil
}

func (s *Server) agentSnapshot(w http.ResponseWriter, r *http.Request) error {
	j, err := s.ownJob(r)
	if err != nil {
		return err
	}
	if j.Snapshot == "" {
		return trainyard.Errorf(trainyard.NotFound, "job %d has no code snapshot", j.ID)
	}
	return serveGzip(w, s.snapshotPath(j.Snapshot),
		trainyard.Errorf(trainyard.NotFound, "snapshot %s of job %d is missing from the server's data dir", j.Snapshot, j.ID))
}

func (s *Server) agentStatus(w http.ResponseWriter, r *http.Request) error {
	id, err := agentJob(r)
	if err != nil {
		return err
	}
	var req api.StatusRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	st := trainyard.JobStatus(req.Status)
	if st != trainyard.JobRunning && st != trainyard.JobFinalizing {
		return trainyard.Errorf(trainyard.Invalid, "status %q: an agent reports Running or Finalizing", req.Status)
	}
	attempt, err := queryAttempt(r)
	if err != nil {
		return err
	}
	if err := s.Store.SetJobRunning(r.Context(), principal(r).Subject, id, attempt, st); err != nil {
		return err
	}
	if st == trainyard.JobRunning {
		// The job's log says where a later attempt starts, also when it writes nothing.
		j, err := s.Store.JobByID(r.Context(), id)
		if err != nil {
			return err
		}
		s.logMu.Lock()
		_, err = s.attemptLog(r.Context(), j, attempt)
		s.logMu.Unlock()
		if err != nil {
			return err
		}
	}
	s.Notify()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) agentLogs(w http.ResponseWriter, r *http.Request) error {
	j, attempt, err := s.reportedJob(r, true)
	if err != nil {
		return err
	}
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil || offset < 0 {
		return trainyard.Errorf(trainyard.Invalid, "offset %q: want a byte offset", r.URL.Query().Get("offset"))
	}
	const maxChunk = 16 << 20
	if r.ContentLength > maxChunk {
		return trainyard.Errorf(trainyard.TooLarge, "a log chunk is at most 16 MB")
	}
	data, err := api.ReadSized(http.MaxBytesReader(w, r.Body, maxChunk), r.ContentLength)
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return trainyard.Errorf(trainyard.TooLarge, "a log chunk is at most 16 MB")
	}
	if err != nil {
		return trainyard.Errorf(trainyard.Invalid, "reading the log chunk: %v; send it again", err)
	}
	size, err := s.appendAttemptLog(r.Context(), j, attempt, principal(r).Subject, offset, data)
	if _, ok := errors.AsType[refused](err); ok || err != nil && trainyard.ErrorCode(err) != trainyard.Conflict {
		return err
	}
	s.Notify()
	writeJSON(w, http.StatusOK, api.LogAppendResponse{Size: size})
	return nil
}

func (s *Server) agentOutputs(w http.ResponseWriter, r *http.Request) error {
	j, _, err := s.reportedJob(r, false)
	if err != nil {
		return err
	}
	if j.Node != principal(r).Subject {
		return trainyard.Errorf(trainyard.Conflict, "job %d: only rank 0 uploads the outputs of a multi-node job", j.ID)
	}
	if _, _, err := writeDurably(s.outputsPath(j.ID), r.Body, maxOutputBytes); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// maxOutputBytes bounds a job's uploaded outputs.
const maxOutputBytes = 10 << 30

func (s *Server) agentFinish(w http.ResponseWriter, r *http.Request) error {
	id, err := agentJob(r)
	if err != nil {
		return err
	}
	var req api.FinishRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	attempt, err := queryAttempt(r)
	if err != nil {
		return err
	}
	if j, err := s.Store.JobByID(r.Context(), id); err == nil && j.Ranked() && j.Attempt == attempt {
		s.logMu.Lock()
		err := s.flushRankLog(r.Context(), j, principal(r).Subject)
		s.logMu.Unlock()
		if err != nil {
			return err
		}
	}
	o := store.Outcome{ExitCode: req.ExitCode, Canceled: req.Canceled}
	if req.Error != nil {
		o.Error = &trainyard.JobError{Code: req.Error.Code, Message: req.Error.Message}
	}
	if j, err := s.Store.JobByID(r.Context(), id); err == nil && j.Distribution.Type == trainyard.DistributionMPI &&
		j.Node == principal(r).Subject && !req.Canceled && (req.ExitCode == nil || *req.ExitCode != 0) {
		// mpirun ended the job: its own words name the process that made it.
		if who := mpiCulprit(tailOf(s.nodeLogPath(j, 0), 64<<10)); who != "" {
			o.Error = &trainyard.JobError{Code: trainyard.ErrUserError, Message: who + "; see user_logs/std_log.txt"}
		}
	}
	j, err := s.Store.FinishJob(r.Context(), principal(r).Subject, id, attempt, o)
	if err != nil {
		return err
	}
	s.Log.Info("job ended on a node", "job", j.Name, "workspace", j.Workspace, "status", j.Status, "node_id", principal(r).Subject)
	s.Notify()
	s.Kick()
	w.WriteHeader(http.StatusNoContent)
	return nil
}
