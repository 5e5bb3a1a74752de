package trainyard

import (
	"fmt"
	"time"
)

// OperationKind is what a long-running operation does to a compute (SPEC §1.1, §5).
type OperationKind string

const (
	OpCreate  OperationKind = "Create"  // a managed compute is provisioned
	OpUpdate  OperationKind = "Update"  // scale settings, tags or description change; done at once
	OpDelete  OperationKind = "Delete"  // a managed compute's nodes go, then its record
	OpAttach  OperationKind = "Attach"  // an attached compute is recorded; done at once
	OpDetach  OperationKind = "Detach"  // an attached compute's record goes; done at once
	OpStart   OperationKind = "Start"   // a compute instance starts: done when it is Running
	OpStop    OperationKind = "Stop"    // a compute instance stops: done when it is Stopped
	OpRestart OperationKind = "Restart" // a compute instance gets a fresh node: done when it is up
)

// Progressive names what an operation of kind k is doing, as a state: "Creating", "Stopping".
func (k OperationKind) Progressive() string {
	switch k {
	case OpStop:
		return "Stopping"
	case OpDelete, OpUpdate, OpCreate:
		return string(k)[:len(k)-1] + "ing"
	}
	return string(k) + "ing"
}

// OperationStatus is where a long-running operation stands (SPEC §3.1).
type OperationStatus string

const (
	OpInProgress OperationStatus = "InProgress"
	OpSucceeded  OperationStatus = "Succeeded"
	OpFailed     OperationStatus = "Failed"
	OpCanceled   OperationStatus = "Canceled"
)

// Terminal reports whether s is final.
func (s OperationStatus) Terminal() bool { return s != OpInProgress && s != "" }

// Operation is one create, update, delete, attach, detach, start, stop or restart of a compute,
// followed until it ends. Error is set when it Failed or was Canceled.
type Operation struct {
	ID        string
	Workspace string
	Compute   string
	Kind      OperationKind
	Status    OperationStatus
	Error     *OperationError
	CreatedAt time.Time
	EndedAt   time.Time // zero while InProgress
}

// OperationError says why an operation Failed or was Canceled.
type OperationError struct {
	Code    string
	Message string
}

// Operation error codes.
const (
	ErrProvisioningFailed = "ProvisioningFailed" // the compute's provisioning failed; the message says why
	ErrOperationCanceled  = "OperationCanceled"  // a later request made the operation moot
)

// Outcome says where op stands given what is true of its compute now: c is nil when the
// record is gone, nodes are its nodes. It is the one rule by which operations end, applied
// where a compute's state changes and again at server start, so an operation never stays
// InProgress for a compute that has settled. An operation that ended keeps its status.
func (op Operation) Outcome(c *ComputeTarget, nodes []Node) (OperationStatus, *OperationError) {
	if op.Status.Terminal() {
		return op.Status, op.Error
	}
	canceled := func(why string) (OperationStatus, *OperationError) {
		return OpCanceled, &OperationError{Code: ErrOperationCanceled, Message: fmt.Sprintf("%s of compute %q canceled: %s", op.Kind, op.Compute, why)}
	}
	gone := c == nil || c.State == Deleting
	switch op.Kind {
	case OpUpdate, OpAttach, OpDetach:
		return OpSucceeded, nil
	case OpDelete:
		if c == nil {
			return OpSucceeded, nil
		}
		return OpInProgress, nil
	case OpCreate:
		switch {
		case gone:
			return canceled("it was deleted before it was ready")
		case c.State == Creating:
			return OpInProgress, nil
		case c.State == Failed:
			msg := "provisioning failed"
			if len(c.Errors) > 0 {
				msg = c.Errors[len(c.Errors)-1]
			}
			return OpFailed, &OperationError{Code: ErrProvisioningFailed, Message: msg}
		case c.State == Canceled:
			return canceled("provisioning was canceled")
		}
		return OpSucceeded, nil
	}
	// Start, stop and restart of a compute instance.
	if gone {
		return canceled("it was deleted")
	}
	if c.Instance == nil {
		return OpSucceeded, nil // not an instance: nothing to wait for
	}
	power, state := c.Instance.Power, InstanceState(*c, nodes)
	switch op.Kind {
	case OpStart:
		if power != PowerRunning {
			return canceled("a later stop superseded it")
		}
		if state == "Running" || state == "JobRunning" {
			return OpSucceeded, nil
		}
	case OpStop:
		if power != PowerStopped {
			return canceled("a later start superseded it")
		}
		if state == "Stopped" {
			return OpSucceeded, nil
		}
	case OpRestart:
		if power != PowerRunning {
			return canceled("a later stop superseded it")
		}
		// Done when a node that registered since the restart is up.
		for _, n := range nodes {
			if (n.State == NodeIdle || n.State == NodeRunning) && !n.RegisteredAt.IsZero() && !n.RegisteredAt.Before(op.CreatedAt) {
				return OpSucceeded, nil
			}
		}
	}
	return OpInProgress, nil
}
