package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
)

// pollEvery is how often wait asks the server.
const pollEvery = 500 * time.Millisecond

// defaultWait bounds a create's wait, as the SDK's wait_for_completion does (25 minutes).
const defaultWait = 25 * time.Minute

// waitFor says what wait follows.
type waitFor struct {
	compute  string         // the compute's name
	op       *api.Operation // the operation to follow to its end; nil for none
	minNodes int            // then, nodes that must be ready (idle or running); 0 for none
	timeout  time.Duration  // give up after this long; 0: never
}

// wait is the one way the CLI waits on a compute. It follows an operation until it ends,
// then, for a cluster, its nodes until minNodes are ready, polling every 500 ms and printing
// progress to stderr as the SDK's wait_for_completion(show_output=True) does:
//
//	cpu-cluster: Creating… Succeeded
//	cpu-cluster: 1 of 2 nodes ready
//	cpu-cluster: 2 of 2 nodes ready
//
// An operation that Failed or was Canceled is an error with its code and message, as is a
// compute in state Failed. It returns the compute as last read: the zero Compute after a
// delete or a detach.
func (g *globals) wait(ctx context.Context, c *api.Client, w waitFor) (api.Compute, error) {
	if w.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, w.timeout)
		defer cancel()
	}
	if op := w.op; op != nil {
		fmt.Fprintf(g.stderr, "%s: %s…", w.compute, trainyard.OperationKind(op.Kind).Progressive())
		for !op.Ended() {
			if err := sleep(ctx); err != nil {
				fmt.Fprintln(g.stderr)
				return api.Compute{}, gaveUp(ctx, w, fmt.Sprintf("%s is still InProgress", op.Kind))
			}
			got, err := c.Operation(ctx, op.ID)
			if err != nil {
				fmt.Fprintln(g.stderr)
				if ctx.Err() != nil {
					return api.Compute{}, gaveUp(ctx, w, fmt.Sprintf("%s is still InProgress", op.Kind))
				}
				return api.Compute{}, err
			}
			op = &got
		}
		fmt.Fprintf(g.stderr, " %s\n", op.Status)
		if err := opError(*op); err != nil {
			return api.Compute{}, err
		}
		if op.Kind == string(trainyard.OpDelete) || op.Kind == string(trainyard.OpDetach) {
			return api.Compute{}, nil
		}
	}
	last := ""
	for {
		out, err := c.Compute(ctx, g.ws(), w.compute)
		if err != nil {
			if ctx.Err() != nil {
				return out, gaveUp(ctx, w, last)
			}
			return out, err
		}
		switch out.ProvisioningState {
		case string(trainyard.Failed), string(trainyard.Canceled):
			return out, fmt.Errorf("compute %s is %s: %s; delete it and create it again", w.compute, out.ProvisioningState, strings.Join(out.ProvisioningErrors, "; "))
		case string(trainyard.Deleting):
			return out, fmt.Errorf("compute %s is being deleted", w.compute)
		case string(trainyard.Creating), string(trainyard.Updating):
			if line := out.ProvisioningState; line != last {
				fmt.Fprintf(g.stderr, "%s: %s…\n", w.compute, line)
				last = line
			}
		default:
			if w.minNodes <= 0 {
				return out, nil
			}
			n := out.Properties.NodeStateCounts
			ready := n.Idle + n.Running
			if line := fmt.Sprintf("%d of %d nodes ready", ready, w.minNodes); line != last {
				fmt.Fprintf(g.stderr, "%s: %s\n", w.compute, line)
				last = line
			}
			if ready >= w.minNodes {
				return out, nil
			}
		}
		if err := sleep(ctx); err != nil {
			return out, gaveUp(ctx, w, last)
		}
	}
}

// opError is the error of an operation that ended other than Succeeded, with its code and
// message; nil for one that Succeeded.
func opError(op api.Operation) error {
	if op.Status == string(trainyard.OpSucceeded) {
		return nil
	}
	msg := fmt.Sprintf("compute %s: %s %s", op.Compute, op.Kind, strings.ToLower(op.Status))
	if op.Error != nil {
		msg += fmt.Sprintf(": %s: %s", op.Error.Code, op.Error.Message)
	}
	if op.Kind == string(trainyard.OpCreate) && op.Status == string(trainyard.OpFailed) {
		msg += "; delete it and create it again"
	}
	return errors.New(msg)
}

// sleep waits pollEvery, or less when ctx ends, and then returns ctx's error.
func sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(pollEvery):
		return nil
	}
}

// gaveUp says that waiting stopped, at the timeout or on an interrupt, while the work goes on.
func gaveUp(ctx context.Context, w waitFor, where string) error {
	follow := "trainyard compute events --name " + w.compute
	if w.op != nil {
		follow = "trainyard operation show " + w.op.ID + " (why: trainyard compute events --name " + w.compute + ")"
	}
	if where == "" {
		where = "not ready"
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && w.timeout > 0 {
		return fmt.Errorf("compute %s: %s after %s; it goes on: follow it with %s", w.compute, where, w.timeout, follow)
	}
	return fmt.Errorf("stopped waiting; compute %s: %s, and it goes on: follow it with %s", w.compute, where, follow)
}

// printFollow tells how to follow an operation the command did not wait for.
func printFollow(w io.Writer, op *api.Operation) {
	if op == nil {
		return
	}
	fmt.Fprintf(w, "operation %s: %s %s; follow it with: trainyard operation show %s\n", op.ID, op.Kind, op.Status, op.ID)
}

// clusterMin is the nodes a create waits for: a cluster's min nodes, none for other types.
func clusterMin(c api.Compute) int {
	if c.Type != string(trainyard.TypeAmlCompute) {
		return 0
	}
	return c.Properties.ScaleSettings.MinNodeCount
}

// reachable refuses to wait for more ready nodes than compute c can ever have, which would
// only sit out the timeout: more than a cluster's max_instances, more than the one node of a
// compute instance, or any node of an attached target, whose nodes trainyard does not manage.
func reachable(c api.Compute, minNodes int) error {
	if minNodes <= 0 {
		return nil
	}
	switch {
	case c.IsAttached:
		return fmt.Errorf("--min-nodes %d: compute %s is an attached %s target, which has no nodes trainyard manages; leave --min-nodes out to wait for its operation only",
			minNodes, c.Name, c.Type)
	case c.Type == string(trainyard.TypeComputeInstance) && minNodes > 1:
		return fmt.Errorf("--min-nodes %d: compute %s is a compute instance, a single node, so it never has %d ready; give --min-nodes 1 or leave it out",
			minNodes, c.Name, minNodes)
	case c.Type == string(trainyard.TypeAmlCompute) && minNodes > c.Properties.ScaleSettings.MaxNodeCount:
		max := c.Properties.ScaleSettings.MaxNodeCount
		fix := fmt.Sprintf("give --min-nodes %d or less", max)
		if max == 0 {
			fix = "leave --min-nodes out"
		}
		return fmt.Errorf("--min-nodes %d: compute %s has max_instances %d, so it never has %d nodes ready; %s, or raise its max first: trainyard compute update --name %s --max-instances %d",
			minNodes, c.Name, max, minNodes, fix, c.Name, minNodes)
	}
	return nil
}
