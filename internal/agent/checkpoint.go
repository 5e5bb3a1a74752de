package agent

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/snapshot"
)

// DefaultCheckpointInterval is how often a job's checkpoint folder goes to the server when the
// server names no interval.
const DefaultCheckpointInterval = 30 * time.Second

// checkpointDir is $TRAINYARD_CHECKPOINT_DIR: what the job keeps there survives its node. It
// lies in the code folder, so a container job sees it at the same path.
func (r *run) checkpointDir() string { return filepath.Join(r.codeDir(), ".trainyard", "checkpoint") }

// restoreCheckpoint fills the checkpoint folder with what the job's earlier attempts saved,
// if any, before the command starts.
func (r *run) restoreCheckpoint(ctx context.Context) error {
	os.RemoveAll(r.checkpointDir()) // what the code folder brought there is no checkpoint
	if err := os.MkdirAll(r.checkpointDir(), 0o755); err != nil || !r.as.HasCheckpoint {
		return err // nothing saved yet: a first attempt, or none saved before this one
	}
	var b backoff
	for {
		resp, err := r.a.client.Stream(ctx, "GET", r.jobPath("checkpoint", ""), nil)
		if err == nil {
			_, err = snapshot.Extract(resp.Body, r.checkpointDir(), outputLimits)
			resp.Body.Close()
			return err
		}
		if e, ok := errors.AsType[*api.Error](err); ok && e.Code == string(trainyard.NotFound) {
			return nil // nothing saved yet: a first attempt
		}
		if _, ok := errors.AsType[*api.Error](err); ok || ctx.Err() != nil {
			return err
		}
		sleep(ctx, b.next())
	}
}

// keepCheckpoints sends the checkpoint folder to the server every interval while it changes,
// until ctx ends. Rank 0's alone counts, as with outputs.
func (r *run) keepCheckpoints(ctx context.Context, last *uint64) {
	if r.as.Rank > 0 {
		return
	}
	every := time.Duration(r.as.CheckpointIntervalMS) * time.Millisecond
	if every <= 0 {
		every = DefaultCheckpointInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.saveCheckpoint(ctx, last); err != nil && ctx.Err() == nil {
				r.a.log.Warn("saving the checkpoint failed; trying again", "job", r.as.Name, "err", err)
			}
		}
	}
}

// saveCheckpoint sends the checkpoint folder to the server if it changed since last, also
// when it was emptied: the next attempt sees what the command left.
func (r *run) saveCheckpoint(ctx context.Context, last *uint64) error {
	if r.as.Rank > 0 {
		return nil
	}
	sum, files := fingerprint(r.checkpointDir())
	if sum == *last {
		return nil
	}
	os.MkdirAll(r.checkpointDir(), 0o755) // a command may have removed the folder itself
	if err := r.uploadDir(ctx, r.checkpointDir(), "checkpoint"); err != nil {
		return err
	}
	*last = sum
	r.a.log.Info("checkpoint saved", "job", r.as.Name, "files", files)
	return nil
}

// fingerprint sums the names, sizes and modification times under dir, and counts its files.
func fingerprint(dir string) (uint64, int) {
	h := fnv.New64a()
	files := 0
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			fmt.Fprintf(h, "%s\x00%d\x00%d\n", path, fi.Size(), fi.ModTime().UnixNano())
			files++
		}
		return nil
	})
	return h.Sum64(), files
}

// uploadDir packs dir and PUTs it to the job's route what, retrying while the server is away.
func (r *run) uploadDir(ctx context.Context, dir, what string) error {
	// Packed to a file beside the job, not in memory: it may be gigabytes.
	tmp, err := os.CreateTemp(r.dir, what+"-*.tar.gz")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if _, err := snapshot.Create(dir, tmp, outputLimits); err != nil {
		return fmt.Errorf("%s folder: %s", what, trainyard.ErrorMessage(err))
	}
	var b backoff
	for {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return err
		}
		err := r.a.client.Do(ctx, "PUT", r.jobPath(what, ""), tmp, nil)
		if _, ok := errors.AsType[*api.Error](err); ok || err == nil || ctx.Err() != nil {
			return err
		}
		sleep(ctx, b.next())
	}
}
