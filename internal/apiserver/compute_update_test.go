package apiserver_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

func TestUpdateCompute(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	mustCompute(t, e, api.ComputeSpec{Name: "cpu-cluster", MaxInstances: intp(2)})
	// A compute being created cannot change yet.
	_, err := e.c.UpdateCompute(ctx, "default", "cpu-cluster", api.ComputeUpdate{MaxInstances: intp(4)})
	wantError(t, err, http.StatusConflict, trainyard.Conflict, "Creating", "wait")
	if err := e.db.SetComputeState(ctx, "default", "cpu-cluster", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}

	desc := "shared by the vision team"
	out, err := e.c.UpdateCompute(ctx, "default", "cpu-cluster", api.ComputeUpdate{MinInstances: intp(1), MaxInstances: intp(8),
		IdleTimeBeforeScaleDown: &api.Seconds{Duration: 10 * time.Minute}, Tags: map[string]string{"team": "vision"}, Description: &desc})
	if err != nil {
		t.Fatalf("UpdateCompute() error: %v", err)
	}
	got := out.Properties.ScaleSettings
	if got != (api.ScaleSettings{MinNodeCount: 1, MaxNodeCount: 8, NodeIdleTimeBeforeScaleDown: "PT600S"}) || out.Tags["team"] != "vision" || out.Description != desc {
		t.Errorf("after update: %+v, tags %v, description %q", got, out.Tags, out.Description)
	}
	// It is stored, not only echoed.
	again, _ := e.c.Compute(ctx, "default", "cpu-cluster")
	if again.Properties.ScaleSettings != got {
		t.Errorf("show after update = %+v, want %+v", again.Properties.ScaleSettings, got)
	}

	tests := []struct {
		body     string
		status   int
		mentions []string
	}{
		{`{"size": "STANDARD_NC6"}`, 400, []string{"size cannot be changed", "delete the compute and create it again"}},
		{`{"tier": "low_priority"}`, 400, []string{"tier cannot be changed"}},
		{`{"max_instances": 0, "min_instances": 1}`, 400, []string{"max_instances 0 is below min_instances 1"}},
		{`{"min_instances": -1}`, 400, []string{"min_instances -1"}},
		{`{"max_nodes": 3}`, 400, []string{"max_nodes"}},
	}
	for _, tt := range tests {
		status, body := e.call(t, "PATCH", "/v1/workspaces/default/computes/cpu-cluster", e.admin, tt.body)
		if status != tt.status {
			t.Errorf("PATCH %s = %d %s, want %d", tt.body, status, body, tt.status)
		}
		for _, m := range tt.mentions {
			if !strings.Contains(string(body), m) {
				t.Errorf("PATCH %s = %s, want it to mention %q", tt.body, body, m)
			}
		}
	}
	// A refused update changes nothing.
	if again, _ := e.c.Compute(ctx, "default", "cpu-cluster"); again.Properties.ScaleSettings != got {
		t.Errorf("after refused updates: %+v, want %+v", again.Properties.ScaleSettings, got)
	}
	evs, err := e.c.Events(ctx, "default", "cpu-cluster", 0)
	if err != nil || len(evs) == 0 || !strings.Contains(evs[len(evs)-1].Message, "updated: min 1, max 8") {
		t.Errorf("events = %+v, %v; want the update last", evs, err)
	}
	_, err = e.c.UpdateCompute(ctx, "default", "nope", api.ComputeUpdate{MaxInstances: intp(1)})
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, "nope")
}

func TestCheckComputeName(t *testing.T) {
	e := newEnv(t)
	mustCompute(t, e, api.ComputeSpec{Name: "cpu-cluster"})
	tests := []struct {
		name, typ string
		want      api.NameCheckResponse
		mentions  string
	}{
		{"gpu-cluster", "amlcompute", api.NameCheckResponse{Available: true}, ""},
		{"cpu-cluster", "amlcompute", api.NameCheckResponse{Reason: "AlreadyExists"}, "already exists"},
		{"cpu-cluster-1", "amlcompute", api.NameCheckResponse{Reason: "Invalid"}, trainyard.ComputeNameRule},
		{"ok-name", "kubernetes-ish", api.NameCheckResponse{Reason: "Invalid"}, "not a compute type"},
	}
	for _, tt := range tests {
		var got api.NameCheckResponse
		err := e.c.Do(t.Context(), "POST", "/v1/workspaces/default/checkComputeNameAvailability", api.NameCheckRequest{Name: tt.name, Type: tt.typ}, &got)
		if err != nil {
			t.Fatalf("check %s: %v", tt.name, err)
		}
		if got.Available != tt.want.Available || got.Reason != tt.want.Reason || !strings.Contains(got.Message, tt.mentions) {
			t.Errorf("check %s/%s = %+v, want %+v with %q", tt.name, tt.typ, got, tt.want, tt.mentions)
		}
	}
}
