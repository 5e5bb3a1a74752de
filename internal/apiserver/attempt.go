package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// reportAttempt is the attempt an agent's report is about (?attempt=N), checked against the
// job: the current one, on a node that holds it; or, late is set, the one before while the
// job waits to run again, from a node that has not let go of it yet. Its last log lines and
// checkpoint still count then; nothing later does.
func (s *Server) reportAttempt(r *http.Request, j store.JobRow, late bool) (int, error) {
	attempt, err := queryAttempt(r)
	if err != nil {
		return 0, err
	}
	nodeID := principal(r).Subject
	if attempt == j.Attempt && s.onNode(r.Context(), j, nodeID) {
		return attempt, nil
	}
	held, err := s.Store.NodeHolds(r.Context(), nodeID, j.ID)
	switch {
	case err != nil:
		return 0, err
	case late && held && attempt == j.Attempt-1 && j.Status == trainyard.JobQueued:
		return attempt, nil
	case !held && attempt == j.Attempt:
		return 0, trainyard.Errorf(trainyard.Forbidden, "job %d is not placed on this node", j.ID)
	}
	return 0, trainyard.Errorf(trainyard.Conflict, "attempt %d of job %s was superseded by attempt %d; this node stops it", attempt, j.Name, j.Attempt)
}

// reportedJob loads the job of an agent route and the attempt its report is about
// (reportAttempt).
func (s *Server) reportedJob(r *http.Request, late bool) (store.JobRow, int, error) {
	id, err := agentJob(r)
	if err != nil {
		return store.JobRow{}, 0, err
	}
	j, err := s.Store.JobByID(r.Context(), id)
	if err != nil {
		return j, 0, err
	}
	attempt, err := s.reportAttempt(r, j, late)
	return j, attempt, err
}

// attemptLog returns where in the job's std_log.txt the log of attempt starts, handing the log
// to attempt if it is newer than the one that has it: a line says which attempt starts where
// and why the last one ended, the ranks' logs of the last one move to user_logs/attempt_N/,
// and the log of the new one follows. Call it with logMu held.
func (s *Server) attemptLog(ctx context.Context, j store.JobRow, attempt int) (int64, error) {
	owner, base, err := s.Store.LogStart(ctx, j.ID)
	if err != nil || attempt <= owner {
		return base, err
	}
	delete(s.mpiLogs, j.ID) // what the last attempt's mpirun left unfinished is not this one's
	if err := s.archiveAttemptLog(j.ID, owner, base); err != nil {
		return 0, err
	}
	if j.Ranked() {
		if err := s.archiveRankLogs(j.ID, owner); err != nil {
			return 0, err
		}
	}
	attempts, err := s.Store.Attempts(ctx, j.ID)
	if err != nil {
		return 0, err
	}
	line := fmt.Sprintf("=== trainyard: attempt %d of %d", attempt, j.Retry.Max+1)
	var before string
	for _, a := range attempts {
		switch a.N {
		case attempt:
			line += " starts on " + strings.Join(a.Nodes, ", ")
		case attempt - 1:
			before = fmt.Sprintf("; attempt %d ended: %s", a.N, a.Message)
		}
	}
	line += before
	path := s.logPath(j.ID)
	size := fileSize(path)
	text := line + " ===\n"
	if size > 0 && !bytes.HasSuffix(tailOf(path, 1), []byte("\n")) {
		text = "\n" + text
	}
	if size, err = appendLog(path, size, []byte(text)); err != nil {
		return 0, err
	}
	return size, s.Store.SetLogStart(ctx, j.ID, attempt, size)
}

// archiveAttemptLog copies attempt's part of the job's log, from base on, to
// user_logs/attempt_N/std_log.txt: each attempt's log on its own, beside the whole.
func (s *Server) archiveAttemptLog(id int64, attempt int, base int64) error {
	src, err := os.Open(s.logPath(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer src.Close()
	dir := filepath.Join(s.jobDir(id), "user_logs", fmt.Sprintf("attempt_%d", attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := src.Seek(base, io.SeekStart); err != nil {
		return err
	}
	_, _, err = writeDurably(filepath.Join(dir, "std_log.txt"), src, 1<<40)
	return err
}

// archiveRankLogs moves the per-rank and per-process logs of attempt to user_logs/attempt_N/:
// the next attempt's ranks count their logs from 0 again.
func (s *Server) archiveRankLogs(id int64, attempt int) error {
	logs := filepath.Join(s.jobDir(id), "user_logs")
	files, _ := filepath.Glob(filepath.Join(logs, "std_log_*.txt"))
	if len(files) == 0 {
		return nil
	}
	dir := filepath.Join(logs, fmt.Sprintf("attempt_%d", attempt))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, f := range files {
		if err := os.Rename(f, filepath.Join(dir, filepath.Base(f))); err != nil {
			return err
		}
	}
	return nil
}

// queryAttempt parses the attempt an agent's report names (?attempt=N).
func queryAttempt(r *http.Request) (int, error) {
	v := r.URL.Query().Get("attempt")
	attempt, err := strconv.Atoi(v)
	if err != nil || attempt < 1 {
		return 0, trainyard.Errorf(trainyard.Invalid, "attempt %q: an agent names the attempt it reports on, 1 or more", v)
	}
	return attempt, nil
}

// checkpointPath is where a job's last checkpoint lies, as rank 0 sent it.
func (s *Server) checkpointPath(id int64) string {
	return filepath.Join(s.jobDir(id), "checkpoint.tar.gz")
}

// agentCheckpointPut keeps the checkpoint folder rank 0 of the job's current attempt sent, or
// the attempt before's while the job waits to run again (its last save, made while it
// stopped). It replaces the one before at once, whole: a torn upload keeps the old one.
func (s *Server) agentCheckpointPut(w http.ResponseWriter, r *http.Request) error {
	j, attempt, err := s.reportedJob(r, true)
	if err != nil {
		return err
	}
	if attempt == j.Attempt && j.Node != principal(r).Subject {
		return trainyard.Errorf(trainyard.Conflict, "job %d: only rank 0 saves the checkpoint of a multi-node job", j.ID)
	}
	if _, _, err := writeDurably(s.checkpointPath(j.ID), r.Body, maxOutputBytes); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// agentCheckpointGet sends the job's last checkpoint to a node of its current attempt, which
// restores it before the command starts; NotFound when none was saved.
func (s *Server) agentCheckpointGet(w http.ResponseWriter, r *http.Request) error {
	j, _, err := s.reportedJob(r, false)
	if err != nil {
		return err
	}
	return serveGzip(w, s.checkpointPath(j.ID), trainyard.Errorf(trainyard.NotFound, "job %s has no checkpoint yet", j.Name))
}

// preemptNode takes back a node of a low-priority cluster, as the platform does when it needs
// the capacity: an operator's command, and the tests'.
func (s *Server) preemptNode(w http.ResponseWriter, r *http.Request) error {
	var req api.PreemptRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return err
		}
	}
	if req.Reason == "" {
		req.Reason = "taken back by an operator (trainyard node preempt)"
	}
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	n, err := s.Store.PreemptNode(r.Context(), ws, r.PathValue("id"), req.Reason)
	if err != nil {
		return err
	}
	s.Log.Info("node preempted", "node_id", n.ID, "compute", n.Compute, "job", n.Job, "reason", req.Reason)
	s.Notify() // its agent hears in its sync that its job stops
	s.Kick()
	out := api.PreemptResponse{Node: n.ID, Compute: n.Compute, Job: n.Job}
	if j, err := s.Store.Job(r.Context(), ws, n.Job); n.Job != "" && err == nil {
		out.RunsAgain = j.Status != trainyard.JobCancelRequested && j.Retry.Retries(j.Attempt, trainyard.ErrPreempted)
		out.Attempt, out.MaxAttempts = j.Attempt, j.Retry.Max+1
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readAttemptLog reads, from offset, attempt's own log of job j (of rank, or the whole when
// rank < 0): an attempt that ended has its copy in user_logs/attempt_N/; the running one's is
// the job's log from where it starts.
func (s *Server) readAttemptLog(ctx context.Context, j store.JobRow, attempt, rank int, offset int64) ([]byte, error) {
	owner, base, err := s.Store.LogStart(ctx, j.ID)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.jobDir(j.ID), "user_logs", fmt.Sprintf("attempt_%d", attempt))
	switch {
	case attempt < owner && rank < 0:
		return readAt(filepath.Join(dir, "std_log.txt"), offset, maxLogRead)
	case attempt < owner:
		return readAt(filepath.Join(dir, fmt.Sprintf("std_log_process_%d.txt", rank)), offset, maxLogRead)
	case attempt > owner:
		return nil, nil // it has written nothing yet
	case rank < 0:
		return readAt(s.logPath(j.ID), base+offset, maxLogRead)
	}
	return readAt(s.rankLogPath(j.ID, rank), offset, maxLogRead)
}

// jobCheckpoint sends the last checkpoint a job saved, as a tar.gz of its
// $TRAINYARD_CHECKPOINT_DIR; NotFound when it saved none.
func (s *Server) jobCheckpoint(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Store.Job(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	return serveGzip(w, s.checkpointPath(j.ID),
		trainyard.Errorf(trainyard.NotFound, "job %q has no checkpoint: it saved nothing in $TRAINYARD_CHECKPOINT_DIR", j.Name))
}
