package apiserver

import (
	"cmp"
	"net/http"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/quota"
)

// location reads the {loc} path value ("default" for the server's default), checking the
// server has it.
func (s *Server) location(r *http.Request) (string, error) {
	loc := r.PathValue("loc")
	if loc == "default" {
		loc = s.DefaultLocation
	}
	if _, ok := s.Sizes(loc); !ok {
		return "", trainyard.Errorf(trainyard.NotFound, "location %q is not configured on this server; the default is %q", loc, s.DefaultLocation)
	}
	return loc, nil
}

func (s *Server) listUsage(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	loc, err := s.location(r)
	if err != nil {
		return err
	}
	lines, err := s.Quota.Report(r.Context(), ws, loc)
	if err != nil {
		return err
	}
	out := []api.Usage{}
	for _, l := range lines {
		out = append(out, api.Usage{Pool: l.Pool, Location: loc, UsedCores: l.Used, LimitCores: l.Limit})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) setQuota(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	loc, err := s.location(r)
	if err != nil {
		return err
	}
	var req api.QuotaUpdate
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Limit < 0 {
		return trainyard.Errorf(trainyard.Invalid, "limit %d: a quota is 0 or more cores", req.Limit)
	}
	sizes, _ := s.Sizes(loc)
	known := req.Pool == quota.LowPriorityPool
	for _, z := range sizes {
		known = known || z.Family == req.Pool
	}
	if !known {
		return trainyard.Errorf(trainyard.Invalid, "pool %q: not a VM family of location %s nor %s; see the families with: trainyard compute list-sizes --location %s",
			req.Pool, loc, quota.LowPriorityPool, loc)
	}
	if err := s.Store.SetQuota(r.Context(), ws, loc, req.Pool, req.Limit); err != nil {
		return err
	}
	s.Log.Info("quota set", "workspace", ws, "location", loc, "pool", req.Pool, "cores", req.Limit)
	s.Kick() // jobs waiting on quota may fit now
	return s.listUsage(w, r)
}

// quotaCheck asks whether nodes nodes of compute c fit its workspace's quota: next to what the
// workspace holds, or, with alone, at all. Without a ledger every request fits.
func (s *Server) quotaCheck(r *http.Request, code string, c trainyard.ComputeTarget, nodes int, alone bool) (*quota.Exceeded, error) {
	if s.Quota == nil {
		return nil, nil
	}
	return s.Quota.Check(r.Context(), code, c.Workspace, c.Location, c.Size, c.Tier == trainyard.LowPriority, nodes, alone)
}

// firstErr turns a quota verdict into the error a caller sees.
func firstErr(err error, e *quota.Exceeded) error {
	if err != nil {
		return err
	}
	return &trainyard.Error{Code: trainyard.Conflict, Message: e.Message()}
}

// capacityCheck refuses what needs more cores than the location has for every cluster
// together (its capacity_cores): nodes nodes of c's size, which field asks for.
func (s *Server) capacityCheck(c trainyard.ComputeTarget, nodes int, field string) error {
	loc := cmp.Or(c.Location, s.DefaultLocation)
	if s.Capacity == nil || s.Capacity(loc) <= 0 || nodes <= 0 {
		return nil
	}
	sizes, _ := s.Sizes(loc)
	size, ok := trainyard.LookupSize(sizes, c.Size)
	if !ok {
		return nil
	}
	if need, have := nodes*size.VCPUs, s.Capacity(loc); need > have {
		return trainyard.Errorf(trainyard.Invalid, "%s %d: %d node(s) of %s take %d cores, more than location %s has for all its clusters together (capacity_cores %d), so they could never run; ask for fewer nodes or a smaller size",
			field, nodes, nodes, size.Name, need, loc, have)
	}
	return nil
}
