package apiserver

import (
	"net/http"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	names, err := s.Store.Workspaces(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": names})
	return nil
}

func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Name string `json:"name"`
	}
	if err := decode(r, &body); err != nil {
		return err
	}
	if err := trainyard.ValidateWorkspaceName(body.Name); err != nil {
		return err
	}
	if err := s.Store.CreateWorkspace(r.Context(), body.Name); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]string{"name": body.Name})
	return nil
}

func (s *Server) listSizes(w http.ResponseWriter, r *http.Request) error {
	loc := r.URL.Query().Get("location")
	if loc == "" {
		loc = s.DefaultLocation
	}
	sizes, ok := s.Sizes(loc)
	if !ok {
		return trainyard.Errorf(trainyard.NotFound, "location %q is not configured on this server; the default is %q", loc, s.DefaultLocation)
	}
	out := make([]api.VMSize, len(sizes))
	for i, z := range sizes {
		out[i] = api.VMSize{Name: z.Name, Family: z.Family, VCPUs: z.VCPUs, MemoryGB: z.MemoryGiB, GPUs: z.GPUs, LowPriorityCapable: z.LowPriorityCapable}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

func (s *Server) createCompute(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	var spec api.ComputeSpec
	if err := decode(r, &spec); err != nil {
		return err
	}
	c, err := s.computeFromSpec(ws, spec)
	if err != nil {
		return err
	}
	// The nodes a target always keeps must be able to fit its workspace's quota (C-04): a
	// cluster's min nodes, an instance's one node. Attached targets use none of it.
	keep := c.Scale.MinNodes
	if c.Type == trainyard.TypeComputeInstance {
		keep = 1
	}
	if !c.Type.Attached() {
		if e, err := s.quotaCheck(r, "ClusterMinNodesExceedCoreQuota", c, keep, true); err != nil || e != nil {
			return firstErr(err, e)
		}
		if err := s.capacityCheck(c, keep, "min_instances"); err != nil {
			return err
		}
	}
	c, op, err := s.Store.CreateCompute(r.Context(), c)
	if err != nil {
		return err
	}
	if c.Type.Attached() {
		// Names and places only: a credential never reaches an event or a log line.
		s.Store.AddEvent(r.Context(), ws, c.Name, "lifecycle", "attached: "+attachSummary(c))
		s.Log.Info("compute attached", "workspace", ws, "compute", c.Name, "type", c.Type)
	} else {
		s.Store.AddEvent(r.Context(), ws, c.Name, "lifecycle", "create requested")
		s.Kick()
	}
	return s.writeOperation(w, r, c, op, http.StatusCreated)
}

func (s *Server) showCompute(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.Compute(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	out, err := s.computeOut(r, c)
	if err != nil {
		return err
	}
	evs, err := s.Store.RecentEvents(r.Context(), c.Workspace, c.Name, 10)
	if err != nil {
		return err
	}
	for _, e := range evs {
		out.Properties.RecentEvents = append(out.Properties.RecentEvents, api.Event{ID: e.ID, Time: e.Time, Kind: e.Kind, Message: e.Message})
	}
	if op, ok, err := s.Store.LatestOperation(r.Context(), c.Workspace, c.Name); err != nil {
		return err
	} else if ok {
		out.Operation = operationOut(op)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listComputes(w http.ResponseWriter, r *http.Request) error {
	ws := r.PathValue("ws")
	if err := s.Store.CheckWorkspace(r.Context(), ws); err != nil {
		return err
	}
	cs, err := s.Store.ComputesIn(r.Context(), ws)
	if err != nil {
		return err
	}
	out := []api.Compute{}
	for _, c := range cs {
		o, err := s.computeOut(r, c)
		if err != nil {
			return err
		}
		o.Properties.Nodes = nil
		out = append(out, o)
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// deleteCompute deletes a managed compute (action=Delete, the default) or detaches an
// attached one (action=Detach; underlyingResourceAction is the reference system's name of the
// parameter). The wrong verb is refused with the right command.
func (s *Server) deleteCompute(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, name := r.PathValue("ws"), r.PathValue("name")
	q := r.URL.Query()
	action := strings.ToLower(firstSet(q.Get("action"), q.Get("underlyingResourceAction"), "delete"))
	if action != "delete" && action != "detach" {
		return trainyard.Errorf(trainyard.Invalid, "action %q: use Delete (managed computes: amlcompute, computeinstance) or Detach (attached computes)", action)
	}
	cur, err := s.Store.Compute(ctx, ws, name)
	if err != nil {
		return err
	}
	switch {
	case action == "delete" && cur.Type.Attached():
		return trainyard.Errorf(trainyard.Invalid, "compute %q is an attached %s: it is detached, not deleted (trainyard never deletes the machine or service it names); detach it with: trainyard compute detach --name %s",
			cur.Name, cur.Type, cur.Name)
	case action == "detach" && !cur.Type.Attached():
		return trainyard.Errorf(trainyard.Invalid, "compute %q is a managed %s: it is deleted, with its nodes, not detached; delete it with: trainyard compute delete --name %s",
			cur.Name, cur.Type, cur.Name)
	case action == "detach":
		op, err := s.Store.DetachCompute(ctx, ws, cur.Name)
		if err != nil {
			return err
		}
		s.Store.AddEvent(ctx, ws, cur.Name, "lifecycle", "detached")
		s.Log.Info("compute detached", "workspace", ws, "compute", cur.Name, "type", cur.Type)
		announce(w, r, op)
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	c, op, err := s.Store.MarkComputeDeleting(ctx, ws, name)
	if err != nil {
		return err
	}
	s.Store.AddEvent(r.Context(), c.Workspace, c.Name, "lifecycle", "delete requested")
	s.Kick()
	return s.writeOperation(w, r, c, op, http.StatusAccepted)
}

func (s *Server) listNodes(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.Compute(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	out, err := s.computeOut(r, c)
	if err != nil {
		return err
	}
	nodes := out.Properties.Nodes
	if nodes == nil {
		nodes = []api.Node{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": nodes})
	return nil
}

// computeOut converts a compute record and its nodes to the wire shape.
func (s *Server) computeOut(r *http.Request, c trainyard.ComputeTarget) (api.Compute, error) {
	nodes, err := s.Store.NodeRows(r.Context(), c.Workspace, c.Name)
	if err != nil {
		return api.Compute{}, err
	}
	out := api.Compute{
		Name: c.Name, Workspace: c.Workspace, Type: string(c.Type), IsAttached: c.Type.Attached(), Location: c.Location, Description: c.Description,
		Tags: c.Tags, ProvisioningState: string(c.State), ProvisioningErrors: c.Errors, CreatedOn: c.CreatedAt, ModifiedOn: c.ModifiedAt,
		RunBasedFor: c.RunBasedFor(),
	}
	p := &out.Properties
	kindOut(p, c)
	if c.Type.Attached() {
		return out, nil
	}
	if c.Type == trainyard.TypeComputeInstance {
		domain := make([]trainyard.Node, len(nodes))
		for i, n := range nodes {
			domain[i] = n.Node
		}
		p.State = trainyard.InstanceState(c, domain)
	}
	now := s.Store.Now()
	for _, n := range nodes {
		switch n.State {
		case trainyard.NodeIdle:
			p.NodeStateCounts.Idle++
		case trainyard.NodeRunning:
			p.NodeStateCounts.Running++
		case trainyard.NodePreparing:
			p.NodeStateCounts.Preparing++
			p.AllocationState = "Resizing"
		case trainyard.NodeUnusable:
			p.NodeStateCounts.Unusable++
		case trainyard.NodePreempted:
			p.NodeStateCounts.Preempted++
		case trainyard.NodeLeaving:
			p.NodeStateCounts.Leaving++
			p.AllocationState = "Resizing"
		}
		if n.State != trainyard.NodeLeaving {
			p.TargetNodeCount++
		}
		if n.State != trainyard.NodePreparing {
			p.CurrentNodeCount++
		}
		p.Nodes = append(p.Nodes, api.Node{ID: n.ID, Address: n.Address, Port: n.Port, State: string(n.State), RunID: n.Job,
			IdleSeconds: int64(n.IdleFor(now) / time.Second)})
	}
	return out, nil
}
