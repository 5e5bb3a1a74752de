package apiserver_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// send makes a raw request with the admin token and returns the answer, body read.
func (e *env) send(t *testing.T, method, path, body string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, data
}

// wantOperation checks that an answer names its operation in both headers and, when it has a
// body, in the compute's operation field, and that GET /v1/operations/{id} answers it with
// kind and status.
func wantOperation(t *testing.T, e *env, resp *http.Response, body []byte, kind trainyard.OperationKind, st trainyard.OperationStatus) api.Operation {
	t.Helper()
	if resp.StatusCode >= 300 {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	u := resp.Header.Get("Azure-AsyncOperation")
	if !strings.HasPrefix(u, e.url+"/v1/operations/op-") || resp.Header.Get("Location") != u {
		t.Fatalf("Azure-AsyncOperation %q, Location %q: want the same %s/v1/operations/op-… URL", u, resp.Header.Get("Location"), e.url)
	}
	id := strings.TrimPrefix(u, e.url+"/v1/operations/")
	if len(body) > 0 {
		var c api.Compute
		if err := json.Unmarshal(body, &c); err != nil {
			t.Fatal(err)
		}
		if c.Operation == nil || c.Operation.ID != id {
			t.Errorf("compute operation field = %+v, want %s", c.Operation, id)
		}
	}
	op, err := e.c.Operation(t.Context(), id)
	if err != nil {
		t.Fatalf("Operation(%s) error: %v", id, err)
	}
	if op.Kind != string(kind) || op.Status != string(st) || op.Workspace != "default" || op.CreatedAt.IsZero() {
		t.Errorf("operation = %+v, want %s %s in workspace default", op, kind, st)
	}
	if op.Ended() != (op.EndedAt != nil) {
		t.Errorf("operation %s has endedAt %v", op.Status, op.EndedAt)
	}
	return op
}

func TestEveryMutationReturnsAnOperation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()

	resp, body := e.send(t, "POST", "/v1/workspaces/default/computes", `{"name": "cpu-cluster", "type": "amlcompute", "max_instances": 2}`)
	create := wantOperation(t, e, resp, body, trainyard.OpCreate, trainyard.OpInProgress)
	if create.Compute != "cpu-cluster" {
		t.Errorf("create operation compute = %q, want cpu-cluster", create.Compute)
	}
	if err := e.db.SetComputeState(ctx, "default", "cpu-cluster", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	if op, _ := e.c.Operation(ctx, create.ID); op.Status != string(trainyard.OpSucceeded) || op.EndedAt == nil {
		t.Errorf("create operation after provisioning = %+v, want Succeeded with endedAt", op)
	}
	shown, err := e.c.Compute(ctx, "default", "cpu-cluster")
	if err != nil || shown.Operation == nil || shown.Operation.ID != create.ID {
		t.Errorf("compute show operation = %+v, %v; want the latest, %s", shown.Operation, err, create.ID)
	}

	resp, body = e.send(t, "PATCH", "/v1/workspaces/default/computes/cpu-cluster", `{"max_instances": 4}`)
	wantOperation(t, e, resp, body, trainyard.OpUpdate, trainyard.OpSucceeded)

	resp, body = e.send(t, "POST", "/v1/workspaces/default/computes", `{"name": "myvm", "type": "virtualmachine", "address": "10.0.0.5",
		"ssh_settings": {"admin_username": "azureuser", "admin_password": "Secr3t!pass"}}`)
	wantOperation(t, e, resp, body, trainyard.OpAttach, trainyard.OpSucceeded)
	resp, body = e.send(t, "DELETE", "/v1/workspaces/default/computes/myvm?action=Detach", "")
	wantOperation(t, e, resp, body, trainyard.OpDetach, trainyard.OpSucceeded)

	resp, body = e.send(t, "POST", "/v1/workspaces/default/computes", `{"name": "dev-box", "type": "computeinstance"}`)
	wantOperation(t, e, resp, body, trainyard.OpCreate, trainyard.OpInProgress)
	if err := e.db.SetComputeState(ctx, "default", "dev-box", trainyard.Succeeded, ""); err != nil {
		t.Fatal(err)
	}
	// No node is up: a stop is done at once; a start waits for a node.
	resp, body = e.send(t, "POST", "/v1/workspaces/default/computes/dev-box/stop", "")
	wantOperation(t, e, resp, body, trainyard.OpStop, trainyard.OpSucceeded)
	resp, body = e.send(t, "POST", "/v1/workspaces/default/computes/dev-box/start", "")
	start := wantOperation(t, e, resp, body, trainyard.OpStart, trainyard.OpInProgress)
	if _, err := e.db.CreateNode(ctx, trainyard.Node{ID: "dev-box-1", Workspace: "default", Compute: "dev-box"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RegisterNode(ctx, "dev-box-1", "127.0.0.1", 7000); err != nil {
		t.Fatal(err)
	}
	if op, _ := e.c.Operation(ctx, start.ID); op.Status != string(trainyard.OpSucceeded) {
		t.Errorf("start operation once the node registered = %s, want Succeeded", op.Status)
	}
	resp, body = e.send(t, "POST", "/v1/workspaces/default/computes/dev-box/restart", "")
	wantOperation(t, e, resp, body, trainyard.OpRestart, trainyard.OpInProgress)

	resp, body = e.send(t, "DELETE", "/v1/workspaces/default/computes/cpu-cluster", "")
	del := wantOperation(t, e, resp, body, trainyard.OpDelete, trainyard.OpInProgress)
	if err := e.db.DeleteCompute(ctx, "default", "cpu-cluster"); err != nil { // what the autoscaler does last
		t.Fatal(err)
	}
	if op, _ := e.c.Operation(ctx, del.ID); op.Status != string(trainyard.OpSucceeded) {
		t.Errorf("delete operation once the record went = %s, want Succeeded", op.Status)
	}
}

func TestFailedCreateOperation(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	c := mustCompute(t, e, api.ComputeSpec{Name: "gpu-cluster", Type: "amlcompute"})
	// What the autoscaler does when a target fails its checks.
	msg := `size "STANDARD_NC6" in location "local" has no low_priority tier; use tier dedicated`
	if err := e.db.SetComputeState(ctx, "default", "gpu-cluster", trainyard.Failed, msg); err != nil {
		t.Fatal(err)
	}
	op, err := e.c.Operation(ctx, c.Operation.ID)
	if err != nil {
		t.Fatal(err)
	}
	if op.Status != "Failed" || op.Error == nil || op.Error.Code != trainyard.ErrProvisioningFailed || op.Error.Message != msg {
		t.Errorf("operation of a failed create = %+v (error %+v), want Failed, code %s, the provisioning error", op, op.Error, trainyard.ErrProvisioningFailed)
	}
}

func TestUnknownOperation(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.Operation(t.Context(), "op-0000000000000000")
	wantError(t, err, http.StatusNotFound, trainyard.NotFound, `operation "op-0000000000000000" not found`)
	status, _ := e.call(t, "GET", "/v1/operations/op-0000000000000000", "", "")
	if status != http.StatusUnauthorized {
		t.Errorf("GET an operation without a token = %d, want 401", status)
	}
}
