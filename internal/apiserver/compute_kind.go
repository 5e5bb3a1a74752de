package apiserver

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// kindOut fills the properties that depend on c's type. Credentials are named, never given.
func kindOut(p *api.ComputeProperties, c trainyard.ComputeTarget) {
	var creds []string
	switch c.Type {
	case trainyard.TypeAmlCompute:
		p.VMSize, p.VMPriority, p.AllocationState = c.Size, "Dedicated", "Steady"
		if c.Tier == trainyard.LowPriority {
			p.VMPriority = "LowPriority"
		}
		p.ScaleSettings = api.ScaleSettings{MinNodeCount: c.Scale.MinNodes, MaxNodeCount: c.Scale.MaxNodes,
			NodeIdleTimeBeforeScaleDown: api.ISODuration(c.Scale.IdleTimeBeforeScaleDown)}
	case trainyard.TypeComputeInstance:
		p.VMSize, p.AllocationState = c.Size, "Steady"
		if c.Instance != nil && c.Instance.IdleTimeBeforeShutdown > 0 {
			p.IdleTimeBeforeShutdown = fmt.Sprintf("PT%dM", int64(c.Instance.IdleTimeBeforeShutdown/time.Minute))
		}
	}
	if ssh := c.SSH; ssh != nil {
		p.AdminUsername, p.SSHPublicKey = ssh.AdminUsername, ssh.PublicKey
		if ssh.AdminPassword.IsSet() {
			creds = append(creds, "admin_password")
		}
	}
	if a := c.Attach; a != nil {
		p.ResourceID, p.SubscriptionID, p.ResourceGroup = a.ResourceID, a.SubscriptionID, a.ResourceGroup
		switch trainyard.ResourceNameKey(c.Type) {
		case "vm_name":
			p.VMName = a.ResourceName
		case "cluster_name":
			p.ClusterName = a.ResourceName
		case "account_name":
			p.AccountName = a.ResourceName
		case "workspace_name":
			p.WorkspaceName = a.ResourceName
		}
		p.Address, p.SSHPort, p.AdminUsername = a.Address, a.SSHPort, a.Username
		p.Namespace, p.SlurmrestdURL = a.Namespace, a.SlurmrestdURL
		creds = append(creds, a.CredentialNames()...)
	}
	p.Credentials = creds
}

// attachSummary says in words where an attached target is, for its events: names and places
// only, never a credential.
func attachSummary(c trainyard.ComputeTarget) string {
	a := c.Attach
	parts := []string{string(c.Type)}
	switch {
	case a.ResourceID != "":
		parts = append(parts, "resource "+a.ResourceID)
	case a.ResourceName != "":
		parts = append(parts, fmt.Sprintf("%s %s in resource group %s", trainyard.ResourceNameKey(c.Type), a.ResourceName, a.ResourceGroup))
	case a.Address != "":
		parts = append(parts, fmt.Sprintf("address %s port %d", a.Address, a.SSHPort))
	case a.SlurmrestdURL != "":
		parts = append(parts, "slurmrestd "+a.SlurmrestdURL)
	case a.Kubeconfig.IsSet():
		parts = append(parts, "from a kubeconfig")
	}
	if a.Username != "" {
		parts = append(parts, "user "+a.Username)
	}
	if a.Namespace != "" {
		parts = append(parts, "namespace "+a.Namespace)
	}
	if names := a.CredentialNames(); len(names) > 0 {
		parts = append(parts, strings.Join(names, ", ")+" set")
	}
	return strings.Join(parts, ", ")
}

// powerCompute starts, stops or restarts a compute instance (POST …/start|stop|restart). Its
// node follows: the autoscaler launches it for a running instance and releases it for a
// stopped one; a restart releases the node now and a new one starts.
func (s *Server) powerCompute(action trainyard.InstanceAction) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		ctx := r.Context()
		ws, name := r.PathValue("ws"), r.PathValue("name")
		nodes, err := s.Store.NodeRows(ctx, ws, name)
		if err != nil {
			return err
		}
		if action != trainyard.ActionStart {
			for _, n := range nodes {
				if n.State == trainyard.NodeRunning {
					return trainyard.Errorf(trainyard.Conflict, "compute instance %q is running job %s; wait for it to end or cancel it (trainyard job cancel --name %s), then %s the instance",
						name, n.Job, n.Job, action)
				}
			}
		}
		kind := map[trainyard.InstanceAction]trainyard.OperationKind{trainyard.ActionStart: trainyard.OpStart,
			trainyard.ActionStop: trainyard.OpStop, trainyard.ActionRestart: trainyard.OpRestart}[action]
		c, op, err := s.Store.UpdateCompute(ctx, ws, name, kind, func(c *trainyard.ComputeTarget) error {
			power, err := trainyard.PowerAfter(*c, action)
			if err != nil {
				return err
			}
			c.Instance.Power = power
			return nil
		})
		if err != nil {
			return err
		}
		if action == trainyard.ActionRestart {
			for _, n := range nodes {
				if n.State == trainyard.NodeLeaving {
					continue
				}
				ok, err := s.Store.ReleaseNode(ctx, n.ID)
				if err != nil {
					return err
				}
				if !ok {
					err := trainyard.Errorf(trainyard.Conflict, "compute instance %q just started a job on node %s; restart it once the job ends", name, n.ID)
					if e := s.Store.EndOperation(ctx, op.ID, trainyard.OpFailed, trainyard.OperationError{Code: string(err.Code), Message: err.Message}); e != nil {
						return e
					}
					return err
				}
			}
		}
		s.Store.AddEvent(ctx, ws, c.Name, "lifecycle", string(action)+" requested")
		s.Log.Info("compute instance "+string(action), "workspace", ws, "compute", c.Name)
		s.Kick()
		s.Notify()
		return s.writeOperation(w, r, c, op, http.StatusAccepted)
	}
}
