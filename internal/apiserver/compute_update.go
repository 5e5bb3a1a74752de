package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// immutable are the compute keys that cannot change in place (SPEC §1.2: only scale settings,
// tags, description and identity are mutable).
var immutable = []string{"name", "type", "size", "tier", "location", "ssh_settings", "ssh_public_access_enabled",
	"network_settings", "enable_node_public_ip", "idle_time_before_shutdown_minutes", "idle_time_before_shutdown",
	"resource_id", "subscription_id", "resource_group", "vm_name", "cluster_name", "account_name", "workspace_name",
	"address", "access_token", "namespace", "kubeconfig", "kubeconfig_file", "slurmrestd_url"}

// scaleKeys change a cluster's scale settings; other types have none.
var scaleKeys = []string{"min_instances", "max_instances", "idle_time_before_scale_down"}

func (s *Server) updateCompute(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, name := r.PathValue("ws"), r.PathValue("name")
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		return trainyard.Errorf(trainyard.TooLarge, "an update body is at most 1 MB")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(body, &keys); err != nil {
		return trainyard.Errorf(trainyard.Invalid, "invalid JSON body: %v", err)
	}
	cur, err := s.Store.Compute(ctx, ws, name)
	if err != nil {
		return err
	}
	mutable, again := "min_instances, max_instances, idle_time_before_scale_down, tags and description", "delete the compute and create it again"
	if cur.Type != trainyard.TypeAmlCompute {
		mutable = "tags and description"
	}
	if cur.Type.Attached() {
		again = "detach the compute and attach it again"
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if slices.Contains(immutable, k) {
			return trainyard.Errorf(trainyard.Invalid, "%s cannot be changed on an existing compute; only %s can. To change %s, %s", k, mutable, k, again)
		}
		if slices.Contains(scaleKeys, k) && cur.Type != trainyard.TypeAmlCompute {
			return trainyard.Errorf(trainyard.Invalid, "%s does not apply to %q, a %s: only amlcompute clusters have scale settings; only %s can change", k, cur.Name, cur.Type, mutable)
		}
	}
	var u api.ComputeUpdate
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := decode(r, &u); err != nil {
		return err
	}
	if err := trainyard.CheckTags(u.Tags); err != nil {
		return err
	}
	// A job that takes more nodes together than the new max could never start, and would hold
	// up every job queued behind it.
	if u.MaxInstances != nil {
		job, nodes, err := s.Store.WidestJob(ctx, ws, name)
		if err != nil {
			return err
		}
		if *u.MaxInstances < nodes {
			return trainyard.Errorf(trainyard.Conflict, "max_instances %d: job %q of compute %q takes %d nodes together and could then never start; cancel it first (trainyard job cancel --name %s), or keep max_instances at %d or more",
				*u.MaxInstances, job, name, nodes, job, nodes)
		}
	}
	c, op, err := s.Store.UpdateCompute(ctx, ws, name, trainyard.OpUpdate, func(c *trainyard.ComputeTarget) error {
		switch c.State {
		case trainyard.Creating, trainyard.Deleting, trainyard.Updating:
			return trainyard.Errorf(trainyard.Conflict, "compute %q is %s; wait until that ends, then update it", c.Name, c.State)
		}
		if u.MinInstances != nil {
			c.Scale.MinNodes = *u.MinInstances
		}
		if u.MaxInstances != nil {
			c.Scale.MaxNodes = *u.MaxInstances
		}
		if u.IdleTimeBeforeScaleDown != nil {
			c.Scale.IdleTimeBeforeScaleDown = u.IdleTimeBeforeScaleDown.Duration
		}
		if u.Tags != nil {
			// The server's own tags (a run-based cluster's) stay whatever the new ones are.
			for k, v := range c.Tags {
				if strings.HasPrefix(k, trainyard.ReservedTagPrefix) {
					u.Tags[k] = v
				}
			}
			c.Tags = u.Tags
		}
		if u.Description != nil {
			c.Description = *u.Description
		}
		return c.Scale.Validate()
	})
	if err != nil {
		return err
	}
	s.Store.AddEvent(ctx, ws, c.Name, "lifecycle", updateEvent(c, u))
	s.Kick()
	return s.writeOperation(w, r, c, op, http.StatusOK)
}

// updateEvent says what update u changed on c, as c now is: the scale settings when u gave any
// (only a cluster has them), the description and the tags.
func updateEvent(c trainyard.ComputeTarget, u api.ComputeUpdate) string {
	var changed []string
	if u.MinInstances != nil || u.MaxInstances != nil || u.IdleTimeBeforeScaleDown != nil {
		changed = append(changed, fmt.Sprintf("min %d, max %d, idle time %s", c.Scale.MinNodes, c.Scale.MaxNodes, api.ISODuration(c.Scale.IdleTimeBeforeScaleDown)))
	}
	if u.Description != nil {
		d := "description " + strconv.Quote(c.Description)
		if c.Description == "" {
			d = "description removed"
		}
		changed = append(changed, d)
	}
	if u.Tags != nil {
		var tags []string
		for _, k := range slices.Sorted(maps.Keys(c.Tags)) {
			if !strings.HasPrefix(k, trainyard.ReservedTagPrefix) {
				tags = append(tags, k+"="+c.Tags[k])
			}
		}
		t := "tags " + strings.Join(tags, ", ")
		if len(tags) == 0 {
			t = "tags removed"
		}
		changed = append(changed, t)
	}
	if len(changed) == 0 {
		return "updated: nothing changed"
	}
	return "updated: " + strings.Join(changed, "; ")
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, name := r.PathValue("ws"), r.PathValue("name")
	if _, err := s.Store.Compute(ctx, ws, name); err != nil {
		return err
	}
	after, err := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
	if r.URL.Query().Get("after") != "" && (err != nil || after < 0) {
		return trainyard.Errorf(trainyard.Invalid, "after %q: want an event ID", r.URL.Query().Get("after"))
	}
	evs, err := s.Store.Events(ctx, ws, name, after, 1000)
	if err != nil {
		return err
	}
	out := []api.Event{}
	for _, e := range evs {
		out = append(out, api.Event{ID: e.ID, Time: e.Time, Kind: e.Kind, Message: e.Message})
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": out})
	return nil
}

// checkComputeName answers whether a name may be used for a new compute of a type, with the
// reason and the rule when it may not: the same rule create applies (case C-07).
func (s *Server) checkComputeName(w http.ResponseWriter, r *http.Request) error {
	var req api.NameCheckRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	out := api.NameCheckResponse{Available: true}
	t, err := trainyard.ParseComputeType(req.Type)
	if err == nil {
		err = trainyard.ValidateComputeName(t, req.Name)
	}
	if err != nil {
		out = api.NameCheckResponse{Reason: "Invalid", Message: trainyard.ErrorMessage(err)}
	} else if _, err := s.Store.Compute(r.Context(), r.PathValue("ws"), req.Name); err == nil {
		out = api.NameCheckResponse{Reason: "AlreadyExists", Message: "compute " + strconv.Quote(req.Name) + " already exists in this workspace"}
	} else if trainyard.ErrorCode(err) != trainyard.NotFound {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
