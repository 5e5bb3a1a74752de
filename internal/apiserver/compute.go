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

// computeFromSpec validates a create request and fills its defaults.
func (s *Server) computeFromSpec(workspace string, spec api.ComputeSpec) (trainyard.ComputeTarget, error) {
	c := trainyard.ComputeTarget{Workspace: workspace, Name: spec.Name, Description: spec.Description, Tags: spec.Tags}
	if spec.Name == "" {
		return c, trainyard.Errorf(trainyard.Invalid, "name is required: give --name or a name: key")
	}
	if spec.Type == "" {
		return c, trainyard.Errorf(trainyard.Invalid, "type is required: use --type amlcompute")
	}
	for _, k := range []struct {
		key string
		set bool
	}{
		{"ssh_settings", spec.SSHSettings != nil}, {"ssh_public_access_enabled", spec.SSHPublicAccessEnabled != nil},
		{"network_settings", spec.NetworkSettings != nil}, {"identity", spec.Identity != nil}, {"enable_node_public_ip", spec.EnableNodePublicIP != nil},
	} {
		if k.set {
			return c, trainyard.Errorf(trainyard.Invalid, "%s: this server does not support it yet (local nodes are reached through their agent and have no managed identity); remove the key", k.key)
		}
	}
	t, err := trainyard.ParseComputeType(spec.Type)
	if err != nil {
		return c, err
	}
	c.Type = t
	if err := trainyard.ValidateComputeName(t, spec.Name); err != nil {
		return c, err
	}
	if c.Tier, err = trainyard.ParseTier(spec.Tier); err != nil {
		return c, err
	}
	c.Location = spec.Location
	if c.Location == "" {
		c.Location = s.DefaultLocation
	}
	sizes, ok := s.Sizes(c.Location)
	if !ok {
		return c, trainyard.Errorf(trainyard.Invalid, "location %q is not configured on this server; leave location out to use %q", c.Location, s.DefaultLocation)
	}
	size := spec.Size
	if size == "" {
		size = trainyard.DefaultSize
	}
	vm, ok := trainyard.LookupSize(sizes, size)
	if !ok {
		return c, trainyard.Errorf(trainyard.Invalid, "size %q is not offered in location %q; choose one of: %s (trainyard compute list-sizes)",
			size, c.Location, strings.Join(trainyard.SizeNames(sizes), ", "))
	}
	c.Size = vm.Name
	c.Scale = trainyard.ScaleSettings{MaxNodes: trainyard.DefaultMaxNodes, IdleTimeBeforeScaleDown: trainyard.DefaultIdleTimeBeforeScaleDown}
	if spec.MinInstances != nil {
		c.Scale.MinNodes = *spec.MinInstances
	}
	if spec.MaxInstances != nil {
		c.Scale.MaxNodes = *spec.MaxInstances
	}
	if spec.IdleTimeBeforeScaleDown != nil {
		c.Scale.IdleTimeBeforeScaleDown = spec.IdleTimeBeforeScaleDown.Duration
	}
	return c, c.Scale.Validate()
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
	// The nodes a cluster always keeps must be able to fit its workspace's quota (C-04).
	if e, err := s.quotaCheck(r, "ClusterMinNodesExceedCoreQuota", c, c.Scale.MinNodes, true); err != nil || e != nil {
		return firstErr(err, e)
	}
	c, err = s.Store.CreateCompute(r.Context(), c)
	if err != nil {
		return err
	}
	s.Store.AddEvent(r.Context(), ws, c.Name, "lifecycle", "create requested")
	s.Kick()
	out, err := s.computeOut(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
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

func (s *Server) deleteCompute(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Store.MarkComputeDeleting(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	s.Store.AddEvent(r.Context(), c.Workspace, c.Name, "lifecycle", "delete requested")
	s.Kick()
	out, err := s.computeOut(r, c)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, out)
	return nil
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
	priority := "Dedicated"
	if c.Tier == trainyard.LowPriority {
		priority = "LowPriority"
	}
	out := api.Compute{
		Name: c.Name, Workspace: c.Workspace, Type: string(c.Type), Location: c.Location, Description: c.Description,
		Tags: c.Tags, ProvisioningState: string(c.State), ProvisioningErrors: c.Errors, CreatedOn: c.CreatedAt, ModifiedOn: c.ModifiedAt,
		Properties: api.ComputeProperties{
			VMSize: c.Size, VMPriority: priority, AllocationState: "Steady",
			ScaleSettings: api.ScaleSettings{MinNodeCount: c.Scale.MinNodes, MaxNodeCount: c.Scale.MaxNodes,
				NodeIdleTimeBeforeScaleDown: api.ISODuration(c.Scale.IdleTimeBeforeScaleDown)},
		},
	}
	now := s.Store.Now()
	p := &out.Properties
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
