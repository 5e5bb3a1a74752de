package apiserver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// routeFixture is a server over a real store holding one token of each kind.
type routeFixture struct {
	srv    *Server
	h      http.Handler
	tokens map[string]string // token kind → token
	jobID  int64             // a job placed on the node of tokens[store.KindNode]
}

func newRouteFixture(t *testing.T) *routeFixture {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "trainyard.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &Server{
		Store: db, DataDir: t.TempDir(), DefaultLocation: "local",
		Sizes: func(loc string) ([]trainyard.VMSize, bool) { return trainyard.BuiltinSizes, loc == "local" },
		Log:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	f := &routeFixture{srv: s, h: s.Handler(), tokens: map[string]string{}}

	f.tokens[store.KindAdmin] = store.NewToken("tya")
	if err := db.ReplaceAdmin(ctx, f.tokens[store.KindAdmin]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateNode(ctx, trainyard.Node{ID: "n-1", Workspace: "default", Compute: "gpu-cluster"}); err != nil {
		t.Fatal(err)
	}
	if f.tokens[store.KindNode], err = db.RegisterNode(ctx, "n-1", "10.0.0.1", 7070); err != nil {
		t.Fatal(err)
	}
	if f.tokens[store.KindJoin], err = db.CreateNode(ctx, trainyard.Node{ID: "n-2", Workspace: "default", Compute: "gpu-cluster"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateJob(ctx, trainyard.Job{Workspace: "default", Name: "train", Compute: "gpu-cluster",
		Command: "python train.py", InstanceCount: 1}, "{}"); err != nil {
		t.Fatal(err)
	}
	a, ok, err := db.Place(ctx, "n-1", nil)
	if err != nil || !ok {
		t.Fatalf("Place() = %v, %v", ok, err)
	}
	f.tokens[store.KindRun], f.jobID = a.RunToken, a.Job.ID
	return f
}

var placeholderRE = regexp.MustCompile(`\{[^}]+\}`)

// path fills the wildcards of a route pattern with plausible values.
func (f *routeFixture) path(pattern string) string {
	return placeholderRE.ReplaceAllStringFunc(pattern, func(w string) string {
		switch w {
		case "{ws}":
			return "default"
		case "{name}":
			return "no-such-name"
		case "{id}":
			return fmt.Sprint(f.jobID)
		}
		return "x1" // a wildcard added later still gets some value
	})
}

// serve sends an empty-bodied request to a route with the given Authorization header.
func (f *routeFixture) serve(rt route, authorization string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(rt.method, f.path(rt.pattern), http.NoBody)
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

// wantErrorBody checks that rec holds the one error body with the given status and code.
func wantErrorBody(t *testing.T, rec *httptest.ResponseRecorder, status int, code trainyard.Code) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var body api.ErrorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q is not the error body: %v", rec.Body, err)
	}
	if body.Error.Code != string(code) || body.Error.Message == "" || !strings.HasPrefix(body.Error.RequestID, "r-") {
		t.Errorf("error body = %+v, want code %q with a message and a request ID", body.Error, code)
	}
}

func routeName(rt route) string { return rt.method + " " + rt.pattern }

func TestEveryRouteButHealthNeedsAToken(t *testing.T) {
	f := newRouteFixture(t)
	admin := f.tokens[store.KindAdmin]
	headers := []struct{ name, value string }{
		{"no header", ""},
		{"wrong bearer token", "Bearer tya_0123456789abcdef"},
		{"empty bearer token", "Bearer "},
		{"valid token, another scheme", "Basic " + admin},
		{"valid token, no scheme", admin},
	}
	for _, rt := range f.srv.routes() {
		t.Run(routeName(rt), func(t *testing.T) {
			if rt.method == "GET" && rt.pattern == "/healthz" {
				rec := f.serve(rt, "")
				if rec.Code != http.StatusOK {
					t.Errorf("GET /healthz without a token = %d, want 200", rec.Code)
				}
				return
			}
			if rt.auth == authNone {
				t.Fatalf("route has no auth; only GET /healthz may be public")
			}
			for _, h := range headers {
				t.Run(h.name, func(t *testing.T) {
					wantErrorBody(t, f.serve(rt, h.value), http.StatusUnauthorized, trainyard.Unauthenticated)
				})
			}
		})
	}
}

// tokenAccepts is which token kind each route kind accepts.
var tokenAccepts = map[string]string{
	authUser: store.KindAdmin,
	authNode: store.KindNode,
	authJoin: store.KindJoin,
	authRun:  store.KindRun,
}

func TestTokenKindsStayOnTheirRoutes(t *testing.T) {
	f := newRouteFixture(t)
	callable := map[string][]string{} // token kind → routes it got past authentication on
	for _, rt := range f.srv.routes() {
		if rt.auth == authNone {
			continue
		}
		if _, ok := tokenAccepts[rt.auth]; !ok {
			t.Errorf("%s: unknown auth kind %q", routeName(rt), rt.auth)
			continue
		}
		for _, kind := range []string{store.KindAdmin, store.KindNode, store.KindJoin, store.KindRun} {
			t.Run(routeName(rt)+"/"+kind, func(t *testing.T) {
				rec := f.serve(rt, "Bearer "+f.tokens[kind])
				if tokenAccepts[rt.auth] != kind {
					wantErrorBody(t, rec, http.StatusForbidden, trainyard.Forbidden)
					return
				}
				if rec.Code == http.StatusUnauthorized || rec.Code == http.StatusForbidden {
					t.Errorf("a %s token got %d, want past authentication; body %s", kind, rec.Code, rec.Body)
				}
				callable[kind] = append(callable[kind], routeName(rt))
			})
		}
	}
	for kind, routes := range callable {
		for _, r := range routes {
			_, path, _ := strings.Cut(r, " ")
			agent, run := strings.HasPrefix(path, "/v1/agent/"), strings.HasPrefix(path, "/v1/run/")
			switch {
			case kind == store.KindAdmin && (agent || run):
				t.Errorf("a user token may call %s", r)
			case (kind == store.KindNode || kind == store.KindJoin) && !agent:
				t.Errorf("a %s token may call %s, outside /v1/agent/", kind, r)
			}
		}
	}
	if diff := slices.Compare(callable[store.KindRun], []string{"POST /v1/run/metrics"}); diff != 0 {
		t.Errorf("a run token may call %q, want only POST /v1/run/metrics", callable[store.KindRun])
	}
	if diff := slices.Compare(callable[store.KindJoin], []string{"POST /v1/agent/register"}); diff != 0 {
		t.Errorf("a join token may call %q, want only POST /v1/agent/register", callable[store.KindJoin])
	}
}

func TestUnknownEndpoint(t *testing.T) {
	f := newRouteFixture(t)
	rec := f.serve(route{method: "GET", pattern: "/v1/nope"}, "")
	wantErrorBody(t, rec, http.StatusNotFound, trainyard.NotFound)
}
