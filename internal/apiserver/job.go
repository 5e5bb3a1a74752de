package apiserver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/dockerargs"
	"github.com/trainyard/trainyard/internal/store"
)

func (s *Server) createJob(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(ctx, ws); err != nil {
		return err
	}
	var spec api.JobSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	j, err := jobFromSpec(ws, spec)
	if err != nil {
		return err
	}
	// An inline compute spec: a cluster for this job alone, created with it (run-based).
	var run *trainyard.ComputeTarget
	if spec.Compute.Spec != nil {
		c, err := s.runBasedCompute(r, ws, j.Name, *spec.Compute.Spec)
		if err != nil {
			return err
		}
		run, j.Compute = &c, c.Name
	}
	// ?validate=true checks everything but the code snapshot and creates nothing: the CLI
	// asks first, so a job that would be refused uploads no code.
	validate := r.URL.Query().Get("validate") == "true"
	if j.Snapshot != "" && !validate {
		if _, err := os.Stat(s.snapshotPath(j.Snapshot)); err != nil {
			return trainyard.Errorf(trainyard.Invalid, "code: snapshot %s was never uploaded; upload the folder first (the CLI does it for you)", j.Snapshot)
		}
	}
	if j.WaitReason, err = s.admit(r, j, run); err != nil {
		return err
	}
	build, err := s.jobEnvironment(ctx, spec, &j, validate)
	if err != nil {
		return err
	}
	if build {
		j.Status, j.WaitReason = trainyard.JobPreparing, fmt.Sprintf("%s: image %s of environment %s", trainyard.WaitBuildingImage, j.Image, j.EnvironmentRef)
	}
	if validate {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	// The spec is kept as submitted, less the environment values (sealed in the job) and the
	// values of docker_args -e variables.
	spec.EnvironmentVariables = nil
	if spec.Resources != nil && spec.Resources.DockerArgs != "" {
		res := *spec.Resources
		res.DockerArgs = dockerargs.Redact(res.DockerArgs)
		spec.Resources = &res
	}
	specJSON, _ := json.Marshal(spec)
	row, err := s.insertJob(ctx, j, run, string(specJSON), spec)
	if err != nil {
		return err
	}
	s.Log.Info("job queued", "workspace", ws, "job", row.Name, "compute", row.Compute, "run_based", run != nil)
	s.Kick()
	if build && s.Build != nil {
		s.Build()
	}
	s.Notify()
	writeJSON(w, http.StatusCreated, s.jobOut(r.Context(), row, nil))
	return nil
}

// insertJob records the job, with its run-based cluster when run is not nil. A generated name
// that is taken already (one in 3.8 billion, but sure to come in a workspace of many jobs) is
// generated again, the run-based cluster's name and tag with it, rather than refused.
func (s *Server) insertJob(ctx context.Context, j trainyard.Job, run *trainyard.ComputeTarget, specJSON string, spec api.JobSpec) (store.JobRow, error) {
	for try := 1; ; try++ {
		var row store.JobRow
		var err error
		if run != nil {
			row, _, err = s.Store.CreateRunBasedJob(ctx, *run, j, specJSON)
			if err == nil {
				s.Store.AddEvent(ctx, j.Workspace, run.Name, "lifecycle", "create requested: a run-based cluster for job "+j.Name+", deleted when the job ends")
			}
		} else {
			row, err = s.Store.CreateJob(ctx, j, specJSON)
		}
		if spec.Name != "" || try == 5 || !errors.Is(err, store.ErrJobNameTaken) {
			return row, err
		}
		old := j.Name
		j.Name = generatedName()
		if j.DisplayName == old {
			j.DisplayName = j.Name
		}
		if run != nil {
			if spec.Compute.Spec.Name == "" {
				run.Name = trainyard.RunBasedName(j.Name, runSuffix())
				j.Compute = run.Name
			}
			run.Tags[trainyard.RunBasedTag] = j.Name
		}
	}
}

// admit checks that the job's compute can ever run it, and returns its first wait reason. A
// job that can never run is refused now rather than queued forever (case C-04). run, when
// not nil, is the run-based cluster to be created with the job; else the job names its compute.
func (s *Server) admit(r *http.Request, j trainyard.Job, run *trainyard.ComputeTarget) (string, error) {
	if run == nil && j.Compute == string(trainyard.TypeLocal) {
		if j.InstanceCount > 1 {
			return "", trainyard.Errorf(trainyard.Invalid, "resources.instance_count %d: the local target is the server's one machine; submit a multi-node job to an amlcompute cluster with max_instances %d or more",
				j.InstanceCount, j.InstanceCount)
		}
		return trainyard.WaitLocalBusy + ": waiting for the server's own machine", nil
	}
	c, err := s.jobCompute(r, j, run)
	if err != nil {
		return "", err
	}
	if c.Type.Attached() {
		return "", trainyard.Errorf(trainyard.Invalid, "compute %q is an attached %s target: running jobs on type %s is not yet supported (its connector comes later); submit to an amlcompute or computeinstance target, or run it on the server's own machine (job submit --compute local; in a job file, compute: local)",
			c.Name, c.Type, c.Type)
	}
	switch c.State {
	case trainyard.Failed:
		return "", trainyard.Errorf(trainyard.Conflict, "compute %q is in Failed state and cannot run jobs (%v); delete it and create it again", c.Name, c.Errors)
	case trainyard.Deleting:
		return "", trainyard.Errorf(trainyard.Conflict, "compute %q is being deleted; create a new one or pick another compute", c.Name)
	}
	if c.Type == trainyard.TypeComputeInstance {
		if j.InstanceCount > 1 {
			return "", trainyard.Errorf(trainyard.Invalid, "compute %q is a compute instance: one node, so it runs single-node jobs only, and this job wants resources.instance_count %d; use an amlcompute cluster for distributed jobs",
				c.Name, j.InstanceCount)
		}
		if c.Instance != nil && c.Instance.Power == trainyard.PowerStopped {
			return fmt.Sprintf("%s: compute instance %s is stopped; start it with: trainyard compute start --name %s", trainyard.WaitInstanceStopped, c.Name, c.Name), nil
		}
	}
	if c.Scale.MaxNodes < j.InstanceCount {
		return "", trainyard.Errorf(trainyard.Invalid, "resources.instance_count %d: compute %q has max_instances %d, so the job, which takes its nodes together, could never start; raise it (trainyard compute update --name %s --max-instances %d) or pick another compute",
			j.InstanceCount, c.Name, c.Scale.MaxNodes, c.Name, j.InstanceCount)
	}
	// A job whose nodes could never fit the quota, even on an empty cluster, is refused (C-04).
	if e, err := s.quotaCheck(r, "JobNodeCountExceedsCoreQuota", c, j.InstanceCount, true); err != nil || e != nil {
		return "", firstErr(err, e)
	}
	if err := s.capacityCheck(c, j.InstanceCount, "resources.instance_count"); err != nil {
		return "", err
	}
	if j.InstanceCount > 1 {
		return trainyard.GangWait(0, j.InstanceCount, c.Name), nil
	}
	return fmt.Sprintf("%s: waiting for a node of %s (0 of 1 ready)", trainyard.WaitWaitingForNodes, c.Name), nil
}

func (s *Server) showJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Store.Job(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	ms, err := s.Store.Metrics(r.Context(), j.ID, "")
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.jobOut(r.Context(), j, ms))
	return nil
}

func (s *Server) listJobs(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.JobFilter{Compute: q.Get("compute"), Status: trainyard.JobStatus(q.Get("status"))}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			return trainyard.Errorf(trainyard.Invalid, "limit %q: want a number from 1 to 10000", v)
		}
		f.Limit = n
	}
	jobs, err := s.Store.Jobs(r.Context(), ws, f)
	if err != nil {
		return err
	}
	out := []api.Job{}
	for _, j := range jobs {
		out = append(out, s.jobOut(r.Context(), j, nil))
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Store.CancelJob(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	s.Log.Info("job cancel requested", "workspace", j.Workspace, "job", j.Name, "status", j.Status)
	s.Notify()
	s.Kick()
	writeJSON(w, http.StatusOK, s.jobOut(r.Context(), j, nil))
	return nil
}

func (s *Server) jobMetrics(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Store.Job(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	ms, err := s.Store.Metrics(r.Context(), j.ID, r.URL.Query().Get("name"))
	if err != nil {
		return err
	}
	out := []api.Metric{}
	for _, m := range ms {
		t := m.Time
		out = append(out, api.Metric{Name: m.Name, Value: m.Value, Step: m.Step, Time: &t})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// Metric limits per run (SPEC §3.7).
const (
	maxMetricNames = 50
	maxMetricBatch = 250
)

func (s *Server) logMetrics(w http.ResponseWriter, r *http.Request) error {
	jobID, _ := strconv.ParseInt(principal(r).Subject, 10, 64)
	var body api.MetricsBody
	if err := decode(r, &body); err != nil {
		return err
	}
	if len(body.Metrics) == 0 || len(body.Metrics) > maxMetricBatch {
		return trainyard.Errorf(trainyard.Invalid, "metrics: send 1 to %d values per request, got %d", maxMetricBatch, len(body.Metrics))
	}
	names := map[string]bool{}
	ms := make([]store.Metric, len(body.Metrics))
	for i, m := range body.Metrics {
		if m.Name == "" || len(m.Name) > 255 {
			return trainyard.Errorf(trainyard.Invalid, "metrics[%d].name: must be 1 to 255 characters", i)
		}
		names[m.Name] = true
		ms[i] = store.Metric{Name: m.Name, Value: m.Value, Step: m.Step}
	}
	have, err := s.Store.MetricNames(r.Context(), jobID)
	if err != nil {
		return err
	}
	for _, n := range have {
		names[n] = true
	}
	if len(names) > maxMetricNames {
		return trainyard.Errorf(trainyard.Invalid, "a job may log at most %d metric names; this batch would make %d", maxMetricNames, len(names))
	}
	if err := s.Store.AddMetrics(r.Context(), jobID, ms); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// jobOut converts a job to the wire shape; ms, when given, fills the latest value of each metric.
func (s *Server) jobOut(ctx context.Context, j store.JobRow, ms []store.Metric) api.Job {
	out := api.Job{
		Name: j.Name, Workspace: j.Workspace, DisplayName: j.DisplayName, ExperimentName: j.ExperimentName,
		Description: j.Description, Tags: j.Tags, Compute: j.Compute, RunBased: inlineCompute(j.Spec), Command: j.Command, Code: j.Snapshot,
		EnvironmentVariables: slices.Sorted(maps.Keys(j.Environment)), InstanceCount: j.InstanceCount,
		Status: string(j.Status), WaitReason: j.WaitReason, Node: j.Node, ExitCode: j.ExitCode, CreatedAt: j.CreatedAt,
	}
	out.Distribution = j.Distribution.String()
	if j.Distribution.Type != "" {
		out.ProcessesPerNode = j.Distribution.Processes()
	}
	out.Attempt, out.MaxRetries, out.RetryOnFailure = j.Attempt, j.Retry.Max, j.Retry.OnFailure
	attempts, err := s.Store.Attempts(ctx, j.ID)
	if err != nil {
		s.Log.Warn("listing the attempts of a job", "job", j.Name, "err", err)
	}
	for _, a := range attempts {
		at := api.JobAttempt{Attempt: a.N, Nodes: a.Nodes, Started: time.UnixMilli(a.Started).UTC(), Cause: a.Cause, Message: a.Message}
		if a.Ended > 0 {
			end := time.UnixMilli(a.Ended).UTC()
			at.Ended = &end
		}
		out.Attempts = append(out.Attempts, at)
	}
	if j.Ranked() {
		ranks, err := s.Store.Ranks(ctx, j.ID)
		if err != nil {
			s.Log.Warn("listing the ranks of a job", "job", j.Name, "err", err)
		}
		for _, r := range ranks {
			out.Ranks = append(out.Ranks, api.JobRank{Rank: r.Rank, Node: r.Node, State: r.State, ExitCode: r.ExitCode})
		}
	}
	if j.Status != trainyard.JobQueued && (j.Status != trainyard.JobPreparing || j.Node != "") {
		out.WaitReason = ""
	}
	if j.Image != "" {
		out.Environment, out.Image, out.DockerArgs = j.EnvironmentRef, j.Image, dockerargs.Redact(j.DockerArgs)
		out.ShmSize = sizeText(cmp.Or(j.ShmSize, defaultShmSize))
	}
	if j.Timeout > 0 {
		out.Timeout = api.ISODuration(j.Timeout)
	}
	if j.Error != nil {
		out.Error = &api.JobError{Code: j.Error.Code, Message: j.Error.Message}
	}
	if !j.StartedAt.IsZero() {
		out.StartedAt = &j.StartedAt
	}
	if !j.EndedAt.IsZero() {
		out.EndedAt = &j.EndedAt
	}
	if len(ms) > 0 {
		out.Metrics = map[string]float64{}
		for _, m := range ms {
			out.Metrics[m.Name] = m.Value
		}
	}
	return out
}

// defaultShmSize is the /dev/shm of a container job that sets none, as in the reference system.
const defaultShmSize = 2 << 30

// sizeText writes bytes as docker does sizes: 2g, 512m, 64k, or bytes.
func sizeText(n int64) string {
	for _, u := range []struct {
		shift uint
		unit  string
	}{{30, "g"}, {20, "m"}, {10, "k"}} {
		if n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.unit
		}
	}
	return strconv.FormatInt(n, 10)
}
