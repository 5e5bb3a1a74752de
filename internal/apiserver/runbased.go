package apiserver

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"maps"
	"math/big"
	"net/http"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// runBasedCompute validates a job's inline compute spec exactly as compute create validates a
// request, quota included, and returns the run-based cluster to create with job job (SPEC §1.2,
// "creation modes"): an amlcompute named run-<job>-<random> unless the spec names it, tagged
// trainyard.run-based-for=<job>. Errors name the spec's key under "compute:".
func (s *Server) runBasedCompute(r *http.Request, ws, job string, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	if spec.Type == "" {
		spec.Type = string(trainyard.TypeAmlCompute)
	}
	if t, err := trainyard.ParseComputeType(spec.Type); err == nil && t != trainyard.TypeAmlCompute {
		return trainyard.ComputeTarget{}, trainyard.Errorf(trainyard.Invalid,
			"compute: type %s: a job's inline compute is a cluster created for that job alone, so its type is amlcompute; to run on a %s, create it (trainyard compute create) and give its name as compute",
			spec.Type, t)
	}
	if spec.Name == "" {
		spec.Name = trainyard.RunBasedName(job, runSuffix())
	}
	c, err := s.computeFromSpec(ws, spec)
	if err != nil {
		return c, inlineErr(err)
	}
	c.Tags = maps.Clone(c.Tags)
	if c.Tags == nil {
		c.Tags = map[string]string{}
	}
	c.Tags[trainyard.RunBasedTag] = job
	// The nodes it always keeps must fit the quota, as for a cluster created by itself (C-04).
	if e, err := s.quotaCheck(r, "ClusterMinNodesExceedCoreQuota", c, c.Scale.MinNodes, true); err != nil || e != nil {
		return c, firstErr(err, e)
	}
	return c, nil
}

// jobCompute returns the compute a job runs on: run, the run-based cluster created with it,
// or the compute it names, which must exist and not be another job's run-based cluster.
func (s *Server) jobCompute(r *http.Request, j trainyard.Job, run *trainyard.ComputeTarget) (trainyard.ComputeTarget, error) {
	if run != nil {
		return *run, nil
	}
	c, err := s.Store.Compute(r.Context(), j.Workspace, j.Compute)
	if trainyard.ErrorCode(err) == trainyard.NotFound {
		return c, trainyard.Errorf(trainyard.NotFound, "compute %q not found in workspace %q; create it with: trainyard compute create --name %s --type amlcompute --max-instances 2, or run it on the server's own machine (job submit --compute local; in a job file, compute: local)",
			j.Compute, j.Workspace, j.Compute)
	}
	if err != nil {
		return c, err
	}
	if job := c.RunBasedFor(); job != "" {
		return c, trainyard.Errorf(trainyard.Conflict, "compute %q is the run-based cluster of job %s: it was created for that job alone and is deleted when it ends; give this job an inline compute spec of its own, or a persistent compute (trainyard compute create)",
			c.Name, job)
	}
	return c, nil
}

// inlineErr puts "compute: " before the message of a validation error of an inline spec, so
// that it names where in the job the key is.
func inlineErr(err error) error {
	if e, ok := errors.AsType[*trainyard.Error](err); ok {
		return &trainyard.Error{Code: e.Code, Message: "compute: " + e.Message, Err: e.Err}
	}
	return err
}

// runSuffix returns 5 random characters, a letter and then letters or digits, which end a
// run-based cluster's name.
func runSuffix() string {
	const letters, alnum = "abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 5)
	for i := range b {
		set := alnum
		if i == 0 {
			set = letters
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		b[i] = set[n.Int64()]
	}
	return string(b)
}

// inlineCompute reports whether a job's stored spec gave an inline compute spec: the job is
// run-based.
func inlineCompute(spec string) bool {
	if !strings.Contains(spec, `"compute":{`) { // the spec is compact JSON: most jobs stop here
		return false
	}
	var s struct {
		Compute json.RawMessage `json:"compute"`
	}
	json.Unmarshal([]byte(spec), &s)
	return bytes.HasPrefix(bytes.TrimSpace(s.Compute), []byte("{"))
}
