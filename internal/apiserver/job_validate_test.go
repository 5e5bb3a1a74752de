package apiserver_test

import (
	"net/http"
	"strings"
	"testing"
)

// ?validate=true answers as a create would, but creates nothing: the CLI asks before it uploads
// a code folder, so a refused job leaves no snapshot behind.
func TestCreateJobValidateOnly(t *testing.T) {
	e := newEnv(t)
	code := strings.Repeat("0", 64) // never uploaded: validation does not look for it
	status, body := e.call(t, "POST", "/v1/workspaces/default/jobs?validate=true", e.admin,
		`{"command": "python train.py", "compute": "local", "code": "`+code+`"}`)
	if status != http.StatusNoContent {
		t.Errorf("validate a good job = %d %s, want 204", status, body)
	}
	status, body = e.call(t, "POST", "/v1/workspaces/default/jobs?validate=true", e.admin,
		`{"command": "python train.py", "compute": "nosuch", "code": "`+code+`"}`)
	if status != http.StatusNotFound || !strings.Contains(string(body), "compute create") {
		t.Errorf("validate a job to a missing compute = %d %s, want 404 with a hint", status, body)
	}
	if jobs, err := e.c.Jobs(t.Context(), "default", "", "", 0); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after validating = %d, %v; want none", len(jobs), err)
	}
}
