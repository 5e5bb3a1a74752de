// Package provider defines where the nodes of a managed compute target come from: the contract
// between the autoscaler and each source of machines (local processes today; containers, SSH
// pools and clouds later). Implementations are safe for concurrent use.
package provider

import (
	"context"
	"errors"
	"time"
)

// Provider obtains and releases the machines behind compute targets.
type Provider interface {
	// List reports every instance the provider holds for the target, in any state. Callers
	// treat it as the truth and keep no private count.
	List(ctx context.Context, target string) ([]Instance, error)
	// Create starts one instance that boots an agent from tmpl.
	Create(ctx context.Context, tmpl Template) (Instance, error)
	// Delete releases instances. Deleting one that is already gone is not an error.
	Delete(ctx context.Context, ids ...string) error
}

// State is the coarse state of an instance.
type State string

const (
	Pending State = "pending" // started, its agent may not be up yet
	Running State = "running"
	Gone    State = "gone" // exited or removed
)

// Instance is one machine held by a provider.
type Instance struct {
	ID        string // equal to Template.NodeID
	Target    string
	State     State
	CreatedAt time.Time
	Address   string
}

// Template is what a new instance boots with: the server URL and a one-time join token that its
// agent presents, so the registered node is matched to its record.
type Template struct {
	NodeID    string // chosen by the server; the instance's ID
	Target    string // "workspace/compute"
	ServerURL string
	JoinToken string
	VCPUs     int
	MemoryGiB float64
	GPUs      int
}

// ErrCapacity means no more instances can be had.
var ErrCapacity = errors.New("provider: no capacity")
