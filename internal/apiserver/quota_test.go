package apiserver_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/apiserver"
	"github.com/trainyard/trainyard/internal/quota"
)

// newQuotaEnv is a server whose local location gives the NC family no cores and 8
// low-priority cores by default.
func newQuotaEnv(t *testing.T) *env {
	t.Helper()
	var e *env
	e = newEnvWith(t, func(s *apiserver.Server) {
		eight := 8
		s.Quota = &quota.Ledger{Source: s.Store,
			Defaults: func(string) quota.Limits {
				return quota.Limits{Dedicated: map[string]int{"standardNCFamily": 0}, LowPriority: &eight}
			},
			Sizes: func(string) []trainyard.VMSize { return trainyard.BuiltinSizes }}
	})
	return e
}

func TestQuotaShowAndSet(t *testing.T) {
	e := newQuotaEnv(t)
	ctx := t.Context()
	lines, err := e.c.Usage(ctx, "default", "default")
	if err != nil {
		t.Fatalf("Usage() error: %v", err)
	}
	got := map[string]api.Usage{}
	for _, l := range lines {
		got[l.Pool] = l
	}
	if got["standardNCFamily"].LimitCores != 0 || got["lowPriority"].LimitCores != 8 || got["standardDv2Family"].LimitCores != quota.DefaultCores {
		t.Errorf("Usage() = %+v", lines)
	}
	lines, err = e.c.SetQuota(ctx, "default", "local", api.QuotaUpdate{Pool: "standardNCFamily", Limit: 24})
	if err != nil {
		t.Fatalf("SetQuota() error: %v", err)
	}
	for _, l := range lines {
		if l.Pool == "standardNCFamily" && l.LimitCores != 24 {
			t.Errorf("after SetQuota: %+v, want limit 24", l)
		}
	}
	// Another workspace keeps the default.
	if err := e.db.CreateWorkspace(ctx, "vision"); err != nil {
		t.Fatal(err)
	}
	other, _ := e.c.Usage(ctx, "vision", "local")
	for _, l := range other {
		if l.Pool == "standardNCFamily" && l.LimitCores != 0 {
			t.Errorf("workspace vision: %+v, want the default 0", l)
		}
	}
	_, err = e.c.SetQuota(ctx, "default", "local", api.QuotaUpdate{Pool: "noSuchFamily", Limit: 4})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "noSuchFamily", "list-sizes")
	_, err = e.c.SetQuota(ctx, "default", "local", api.QuotaUpdate{Pool: "lowPriority", Limit: -1})
	wantError(t, err, http.StatusBadRequest, trainyard.Invalid, "-1")
	_, err = e.c.Usage(ctx, "default", "westus")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, "westus", "not configured")
}

// Case C-04: a cluster whose min nodes, or a job whose nodes, can never fit the quota is
// refused at once with a message naming the family, requested, used, limit and the fix.
func TestQuotaRefusals(t *testing.T) {
	e := newQuotaEnv(t)
	ctx := t.Context()
	_, err := e.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute", Size: "Standard_NC6", MinInstances: intp(1), MaxInstances: intp(2)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "ClusterMinNodesExceedCoreQuota", "standardNCFamily", "needs 6 more cores", "0 of its 0",
		"trainyard quota set -w default --location local --family \"standardNCFamily\" --limit 6")
	if list, _ := e.c.Computes(ctx, "default"); len(list) != 0 {
		t.Errorf("computes after the refusal = %d, want none", len(list))
	}
	// With min 0 the cluster may exist, but a job on it could never start.
	mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", Size: "Standard_NC6", MaxInstances: intp(2)})
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Command: "nvidia-smi", Compute: api.Named("gpu-cluster")})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "JobNodeCountExceedsCoreQuota", "standardNCFamily", "quota set")
	if jobs, _ := e.c.Jobs(ctx, "default", "", "", 0); len(jobs) != 0 {
		t.Errorf("jobs after the refusal = %d, want none", len(jobs))
	}
	// Raising the quota lets the same job in.
	if _, err := e.c.SetQuota(ctx, "default", "local", api.QuotaUpdate{Pool: "standardNCFamily", Limit: 6}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CreateJob(ctx, "default", api.JobSpec{Command: "nvidia-smi", Compute: api.Named("gpu-cluster")}); err != nil {
		t.Errorf("CreateJob() after raising the quota = %v, want accepted", err)
	}
	// Low-priority clusters draw on the low-priority pool (8 cores): min 3 × 4 cores does not fit.
	_, err = e.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "lowpri", Type: "amlcompute", Size: "STANDARD_DS3_V2", Tier: "low_priority", MinInstances: intp(3), MaxInstances: intp(3)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "the low-priority pool", "needs 12 more cores", "--low-priority --limit 12")
}

// A compute instance keeps one node while it runs: that node must be able to fit the quota.
func TestQuotaComputeInstance(t *testing.T) {
	e := newQuotaEnv(t)
	_, err := e.c.CreateCompute(t.Context(), "default", api.ComputeSpec{Name: "gpu-box", Type: "computeinstance", Size: "Standard_NC6"})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "ClusterMinNodesExceedCoreQuota", "standardNCFamily", "needs 6 more cores")
}

// What needs more cores than the location has for all its clusters is refused at once, the
// cluster's min nodes at create and a job's nodes at submit, rather than waiting for ever.
func TestCapacityRefusals(t *testing.T) {
	e := newEnvWith(t, func(s *apiserver.Server) { s.Capacity = func(string) int { return 4 } })
	ctx := t.Context()
	_, err := e.c.CreateCompute(ctx, "default", api.ComputeSpec{Name: "big", Type: "amlcompute", Size: "STANDARD_D2_V2", MinInstances: intp(3), MaxInstances: intp(3)})
	if !strings.Contains(fmt.Sprint(err), "min_instances 3: 3 node(s) of STANDARD_D2_V2 take 6 cores, more than location local has for all its clusters together (capacity_cores 4)") {
		t.Errorf("create with min 3 = %v, want the capacity refusal", err)
	}
	mustCompute(t, e, api.ComputeSpec{Name: "three", Type: "amlcompute", Size: "STANDARD_D2_V2", MaxInstances: intp(3)})
	_, err = e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named("three"),
		Resources: &api.Resources{InstanceCount: intp(3)}, Distribution: map[string]any{"type": "pytorch"}})
	if !strings.Contains(fmt.Sprint(err), "resources.instance_count 3: 3 node(s) of STANDARD_D2_V2 take 6 cores") {
		t.Errorf("a 3-node job = %v, want the capacity refusal", err)
	}
	if _, err := e.c.CreateJob(ctx, "default", api.JobSpec{Command: "python train.py", Compute: api.Named("three"),
		Resources: &api.Resources{InstanceCount: intp(2)}, Distribution: map[string]any{"type": "pytorch"}}); err != nil {
		t.Errorf("a 2-node job that fits = %v", err)
	}
}
