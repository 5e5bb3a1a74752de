package autoscale

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/trainyard/trainyard"
)

// retire starts deleting run-based target t once its job has ended (SPEC §1.2, "creation
// modes"), and returns t as it now is. The check is level-triggered: it runs on every pass, so
// a job that ended while the server was down, or a failed cluster whose job can never run,
// still gets its cluster deleted. The deletion itself is the usual one: the pass releases the
// target's nodes and then drops its record.
func (a *Autoscaler) retire(ctx context.Context, log *slog.Logger, t trainyard.ComputeTarget) (trainyard.ComputeTarget, error) {
	if t.State == trainyard.Creating || t.State == trainyard.Deleting {
		return t, nil
	}
	ok, err := a.state.RetireRunBased(ctx, t.Workspace, t.Name)
	if err != nil {
		return t, fmt.Errorf("retire run-based target: %w", err)
	}
	if !ok {
		return t, nil
	}
	job := t.RunBasedFor()
	log.Info("run-based target retired: its job ended", "job", job)
	msg := fmt.Sprintf("job %s ended: deleting its run-based cluster", job)
	if t.State == trainyard.Failed || t.State == trainyard.Canceled {
		msg = fmt.Sprintf("the cluster failed, so job %s cannot run: it failed with code %s; deleting the cluster", job, trainyard.ErrComputeFailed)
	}
	a.event(ctx, log, t, EventLifecycle, msg)
	t.State = trainyard.Deleting
	return t, nil
}
