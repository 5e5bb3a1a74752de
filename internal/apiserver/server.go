// Package apiserver serves trainyard's /v1 HTTP API over the store: every route in one table
// (routes.go), one error→status table (error.go), one file per resource. It converts between
// domain and wire types; it must not import providers, drivers or the CLI.
package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/quota"
	"github.com/trainyard/trainyard/internal/store"
)

// Server holds what the handlers need. Set the fields, then call Handler.
type Server struct {
	Store   *store.DB
	DataDir string // artifacts live under it: snapshots/, jobs/<id>/
	// Sizes returns the VM-size catalog of a location; ok is false for an unknown location.
	Sizes           func(location string) (sizes []trainyard.VMSize, ok bool)
	DefaultLocation string
	Quota           *quota.Ledger
	Kick            func() // asks the autoscaler for a pass soon
	// Images is the Docker engine's image store; nil when the server has none.
	Images Images
	Build  func() // asks the image builder for a pass soon; nil without an engine
	// CheckpointInterval is how often nodes send a job's checkpoint folder while it changes;
	// zero leaves it to the agents' default.
	CheckpointInterval time.Duration
	// Capacity returns the cores a location has for every cluster together; 0 is no bound.
	Capacity func(location string) int
	// HeartbeatTimeout is the silence after which a node is lost; agents are told it.
	HeartbeatTimeout time.Duration
	Log              *slog.Logger

	changed *signal
	logMu   sync.Mutex // orders the ranks' appends to a multi-node job's log
	// mpiLogs holds, by job, the pieces of lines mpirun carried so far (under logMu).
	mpiLogs map[int64]*mpiSplit
}

// Handler returns the HTTP handler of every route.
func (s *Server) Handler() http.Handler {
	s.changed = newSignal()
	s.mpiLogs = map[int64]*mpiSplit{}
	if s.Kick == nil {
		s.Kick = func() {}
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes() {
		mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	mux.Handle("/", s.wrap(route{auth: authNone, handle: func(w http.ResponseWriter, r *http.Request) error {
		return trainyard.Errorf(trainyard.NotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	}}))
	return mux
}

// Notify wakes long-polling requests; the server's own loops call it after changing state.
func (s *Server) Notify() {
	if s.changed != nil {
		s.changed.Broadcast()
	}
}

type ctxPrincipal struct{}

func principal(r *http.Request) store.Principal {
	p, _ := r.Context().Value(ctxPrincipal{}).(store.Principal)
	return p
}

// wrap adds the request ID, checks the route's token kind and writes any error.
func (s *Server) wrap(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := context.WithValue(r.Context(), ctxRequestID{}, newRequestID())
		r = r.WithContext(ctx)
		if rt.auth != authNone {
			p, err := s.authenticate(r, rt.auth)
			if err != nil {
				writeError(w, r, s.Log, err)
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), ctxPrincipal{}, p))
		}
		if err := rt.handle(w, r); err != nil {
			writeError(w, r, s.Log, err)
		}
	})
}

// authenticate checks the bearer token and that its kind may call a route of kind want.
func (s *Server) authenticate(r *http.Request, want string) (store.Principal, error) {
	h := r.Header.Get("Authorization")
	scheme, tok, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return store.Principal{}, trainyard.Errorf(trainyard.Unauthenticated,
			"this endpoint needs a bearer token; the CLI finds the local server's token by itself, or pass --token or TRAINYARD_TOKEN")
	}
	p, err := s.Store.Authenticate(r.Context(), tok)
	if trainyard.ErrorCode(err) == trainyard.NotFound {
		return p, trainyard.Errorf(trainyard.Unauthenticated, "the token is not valid on this server; check --token or TRAINYARD_TOKEN")
	}
	if err != nil {
		return p, err
	}
	allowed := map[string]string{authUser: store.KindAdmin, authNode: store.KindNode, authJoin: store.KindJoin, authRun: store.KindRun}
	if p.Kind != allowed[want] {
		return p, trainyard.Errorf(trainyard.Forbidden, "a %s token may not call %s %s", p.Kind, r.Method, r.URL.Path)
	}
	return p, nil
}
