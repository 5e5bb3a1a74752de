package apiserver_test

import (
	"net/http"
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
