package autoscale

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/provider"
)

// launchAll launches up to n nodes and returns how many it launched. A failure stops the
// launches of this pass and backs launching off exponentially.
func (a *Autoscaler) launchAll(ctx context.Context, log *slog.Logger, ts *target, t trainyard.ComputeTarget, loc Location, n int, now time.Time) int {
	if n == 0 {
		return 0
	}
	if now.Before(ts.launchAt) {
		log.Debug("launch backing off", "until", ts.launchAt, "err", ts.launchErr)
		return 0
	}
	for i := range n {
		id, err := a.launch(ctx, t, loc, now)
		if err != nil {
			if ctx.Err() != nil {
				return i
			}
			ts.launchFails++
			delay := backoff(a.interval, ts.launchFails)
			ts.launchAt, ts.launchErr = now.Add(delay), err
			if ts.launchLog.report(log, now, "launch", err, "retry_in", delay) {
				a.event(ctx, log, t, EventError, fmt.Sprintf("%v; retrying in %s", err, delay))
			}
			return i
		}
		log.Info("node launched", "node_id", id)
		a.event(ctx, log, t, EventNode, fmt.Sprintf("node %s launched", id))
	}
	ts.launchFails, ts.launchAt, ts.launchErr = 0, time.Time{}, nil
	ts.launchLog.recover(log, "launch")
	return n
}

// launch records one preparing node and asks the provider for its instance. When the
// provider fails, the record is dropped so it holds no capacity.
func (a *Autoscaler) launch(ctx context.Context, t trainyard.ComputeTarget, loc Location, now time.Time) (string, error) {
	size, ok := trainyard.LookupSize(loc.Sizes, t.Size)
	if !ok {
		return "", fmt.Errorf("launch a node: size %q is not in the catalog of location %q", t.Size, locationName(t))
	}
	url := cmp.Or(loc.ServerURL, a.serverURL())
	if url == "" {
		return "", errors.New("launch a node: the server URL is not known yet")
	}
	id := t.Name + "-" + randomHex(4)
	token, err := a.state.CreateNode(ctx, trainyard.Node{
		ID:        id,
		Workspace: t.Workspace,
		Compute:   t.Name,
		State:     trainyard.NodePreparing,
		Slots:     1,
		CreatedAt: now,
	})
	if err != nil {
		return "", fmt.Errorf("record node %s: %w", id, err)
	}
	_, err = loc.Provider.Create(ctx, provider.Template{
		NodeID:    id,
		Target:    t.Workspace + "/" + t.Name,
		ServerURL: url,
		JoinToken: token,
		VCPUs:     size.VCPUs,
		MemoryGiB: size.MemoryGiB,
		GPUs:      size.GPUs,
	})
	if err != nil {
		// Drop the record even at shutdown; should this fail, the boot timeout releases it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		_ = a.state.DeleteNode(cctx, id)
		cancel()
		return "", fmt.Errorf("create instance %s in location %s: %w", id, locationName(t), err)
	}
	return id, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
