package trainyard

import (
	"fmt"
	"time"
)

// SSHSettings is the admin account on the nodes of a cluster or an instance (ssh_settings,
// SPEC §1.2 and §2.1). Trainyard stores it, sealing the password; nodes of the local provider
// are reached through their agent and do not act on it yet.
type SSHSettings struct {
	AdminUsername string
	AdminPassword Secret
	PublicKey     string // an OpenSSH public key line (ssh_key_value)
}

// Validate applies SPEC §1.2 rules 1 and 2 for a cluster: any of user, password or key needs
// the user; a user needs a password or a key; a password has 3 of 4 character classes. An
// instance takes only a public key: its admin user is assigned (SPEC §1.3).
func (s SSHSettings) Validate(t ComputeType) error {
	if t == TypeComputeInstance {
		switch {
		case s.AdminUsername != "":
			return Errorf(Invalid, "ssh_settings.admin_username: a compute instance's admin user is assigned by the server; give only ssh_settings.ssh_key_value")
		case s.AdminPassword.IsSet():
			return Errorf(Invalid, "ssh_settings.admin_password: a compute instance takes no password; give only ssh_settings.ssh_key_value")
		case s.PublicKey == "":
			return Errorf(Invalid, "ssh_settings: give ssh_settings.ssh_key_value, the public key of the instance's admin user")
		}
		return CheckPublicKey("ssh_settings.ssh_key_value", s.PublicKey)
	}
	if s.AdminUsername == "" {
		return Errorf(Invalid, "ssh_settings.admin_username is required when ssh_settings gives a password or a key: they are the credentials of that user on the nodes; add it (--admin-username)")
	}
	if err := CheckUsername("ssh_settings.admin_username", s.AdminUsername, t); err != nil {
		return err
	}
	if !s.AdminPassword.IsSet() && s.PublicKey == "" {
		return Errorf(Invalid, "ssh_settings: user %q needs admin_password or ssh_key_value (--admin-password or --ssh-key-value)", s.AdminUsername)
	}
	if s.AdminPassword.IsSet() {
		if err := CheckAdminPassword("ssh_settings.admin_password", s.AdminPassword); err != nil {
			return err
		}
	}
	if s.PublicKey != "" {
		return CheckPublicKey("ssh_settings.ssh_key_value", s.PublicKey)
	}
	return nil
}

// PowerState is what the owner last asked of a compute instance.
type PowerState string

const (
	PowerRunning PowerState = "Running"
	PowerStopped PowerState = "Stopped"
)

// InstanceSettings are what only a compute instance has.
type InstanceSettings struct {
	Power PowerState
	// IdleTimeBeforeShutdown is idle_time_before_shutdown_minutes; zero never shuts it down.
	// It is stored and shown; acting on it comes with idle detection.
	IdleTimeBeforeShutdown time.Duration
}

// Bounds of IdleTimeBeforeShutdown (SPEC §2.1, §3.3).
const (
	MinIdleTimeBeforeShutdown = 15 * time.Minute
	MaxIdleTimeBeforeShutdown = 3 * 24 * time.Hour
)

// Validate checks the idle shutdown bounds.
func (s InstanceSettings) Validate() error {
	d := s.IdleTimeBeforeShutdown
	if d != 0 && (d < MinIdleTimeBeforeShutdown || d > MaxIdleTimeBeforeShutdown) {
		return Errorf(Invalid, "idle_time_before_shutdown_minutes %s: must be %d to %d minutes (15 minutes to 3 days), or left out to never shut down when idle",
			formatMinutes(d), int(MinIdleTimeBeforeShutdown/time.Minute), int(MaxIdleTimeBeforeShutdown/time.Minute))
	}
	if d%time.Minute != 0 {
		return Errorf(Invalid, "idle_time_before_shutdown_minutes %s: give whole minutes", formatMinutes(d))
	}
	return nil
}

func formatMinutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return fmt.Sprint(int64(d / time.Minute))
	}
	return d.String()
}

// InstanceAction is an operation on a compute instance's power.
type InstanceAction string

const (
	ActionStart   InstanceAction = "start"
	ActionStop    InstanceAction = "stop"
	ActionRestart InstanceAction = "restart"
)

// WaitInstanceStopped begins the wait reason of jobs queued on a stopped compute instance.
const WaitInstanceStopped = "InstanceStopped"

// PowerAfter checks that action may run on c now and returns the power state it leads to. Its
// preconditions are the reference system's (SPEC §1.3): only instances; not while the record
// is being created, has failed or is being deleted; start only a stopped instance, stop and
// restart only a running one.
func PowerAfter(c ComputeTarget, action InstanceAction) (PowerState, error) {
	if c.Type != TypeComputeInstance || c.Instance == nil {
		hint := "scale a cluster with: trainyard compute update --name " + c.Name + " --min-instances N"
		if c.Type.Attached() {
			hint = "an attached target is powered where it lives"
		}
		return "", Errorf(Invalid, "%s applies to compute instances only; %q is a %s (%s)", action, c.Name, c.Type, hint)
	}
	switch c.State {
	case Succeeded:
	case Failed, Canceled:
		return "", Errorf(Conflict, "compute instance %q is in %s state; delete it and create it again", c.Name, c.State)
	default:
		return "", Errorf(Conflict, "compute instance %q is %s; wait until that ends (trainyard compute wait --name %s), then %s it", c.Name, c.State, c.Name, action)
	}
	p := c.Instance.Power
	switch {
	case action == ActionStart && p == PowerRunning:
		return "", Errorf(Conflict, "compute instance %q is already running; stop or restart it instead", c.Name)
	case action == ActionStart:
		return PowerRunning, nil
	case p == PowerStopped && action == ActionStop:
		return "", Errorf(Conflict, "compute instance %q is already stopped; start it with: trainyard compute start --name %s", c.Name, c.Name)
	case p == PowerStopped:
		return "", Errorf(Conflict, "compute instance %q is stopped, so it cannot %s; start it with: trainyard compute start --name %s", c.Name, action, c.Name)
	case action == ActionStop:
		return PowerStopped, nil
	case action == ActionRestart:
		return PowerRunning, nil
	}
	return "", Errorf(Invalid, "unknown action %q: use start, stop or restart", action)
}

// InstanceState is the state a compute instance shows (SPEC §3.3), from its record and its
// nodes: Creating, CreateFailed, Deleting, Starting, Running, JobRunning, Restarting,
// Stopping or Stopped.
func InstanceState(c ComputeTarget, nodes []Node) string {
	switch c.State {
	case Creating:
		return "Creating"
	case Failed, Canceled:
		return "CreateFailed"
	case Deleting:
		return "Deleting"
	}
	var live, ready, busy, leaving int
	for _, n := range nodes {
		switch n.State {
		case NodeIdle:
			live, ready = live+1, ready+1
		case NodeRunning:
			live, busy = live+1, busy+1
		case NodePreparing, NodeUnusable:
			live++
		case NodeLeaving:
			leaving++
		}
	}
	if c.Instance == nil || c.Instance.Power == PowerStopped {
		if live+leaving > 0 {
			return "Stopping"
		}
		return "Stopped"
	}
	switch {
	case busy > 0:
		return "JobRunning"
	case ready > 0:
		return "Running"
	case leaving > 0:
		return "Restarting"
	}
	return "Starting"
}
