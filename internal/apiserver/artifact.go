package apiserver

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/api"
	"github.com/trainyard/trainyard/internal/store"
)

// maxSnapshotBytes bounds an uploaded code snapshot (SPEC §3.7: 300 MB of code; compressed it
// is smaller).
const maxSnapshotBytes = 300 << 20

// SnapshotPath is where an uploaded snapshot (code, or a build context) lies.
func (s *Server) SnapshotPath(id string) string { return s.snapshotPath(id) }

func (s *Server) snapshotPath(id string) string {
	return filepath.Join(s.DataDir, "snapshots", id+".tar.gz")
}

func (s *Server) jobDir(id int64) string {
	return filepath.Join(s.DataDir, "jobs", strconv.FormatInt(id, 10))
}

func (s *Server) logPath(id int64) string {
	return filepath.Join(s.jobDir(id), "user_logs", "std_log.txt")
}

// BuildLogPath is where the image builder writes the log of build name.
func BuildLogPath(dataDir, name string) string {
	return filepath.Join(dataDir, "builds", name+".log")
}

func (s *Server) outputsPath(id int64) string {
	return filepath.Join(s.jobDir(id), "outputs.tar.gz")
}

// writeDurably copies r to path through a temporary file, synced, then renamed, so the file
// is either whole or absent after a crash. It returns the SHA-256 of what it wrote.
func writeDurably(path string, r io.Reader, limit int64) (string, int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", 0, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".upload-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, limit+1))
	if err != nil {
		return "", 0, err
	}
	if n > limit {
		return "", 0, trainyard.Errorf(trainyard.TooLarge, "the upload is over the limit of %d MB", limit>>20)
	}
	if err := tmp.Sync(); err != nil {
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, os.Rename(tmp.Name(), path)
}

func (s *Server) uploadSnapshot(w http.ResponseWriter, r *http.Request) error {
	if err := s.Store.CheckWorkspace(r.Context(), r.PathValue("ws")); err != nil {
		return err
	}
	staging := filepath.Join(s.DataDir, "snapshots", ".staging-"+newRequestID())
	sum, n, err := writeDurably(staging, r.Body, maxSnapshotBytes)
	if err != nil {
		os.Remove(staging)
		return err
	}
	// Content addressing: the same code uploaded twice is stored once.
	if err := os.Rename(staging, s.snapshotPath(sum)); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, api.Snapshot{ID: sum, Bytes: n})
	return nil
}

// maxLogRead bounds one answer of the log endpoint.
const maxLogRead = 4 << 20

func (s *Server) jobLogs(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	ws, name := r.PathValue("ws"), r.PathValue("name")
	offset, err := strconv.ParseInt(r.URL.Query().Get("offset"), 10, 64)
	if err != nil && r.URL.Query().Get("offset") != "" || offset < 0 {
		return trainyard.Errorf(trainyard.Invalid, "offset %q: want a byte offset of 0 or more", r.URL.Query().Get("offset"))
	}
	// ?rank=N reads one rank's own log of a multi-node job.
	rank := -1
	if v := r.URL.Query().Get("rank"); v != "" {
		if rank, err = strconv.Atoi(v); err != nil || rank < 0 {
			return trainyard.Errorf(trainyard.Invalid, "rank %q: want a rank of the job, 0 or more", v)
		}
	}
	// ?attempt=N reads one attempt's log.
	attempt := 0
	if v := r.URL.Query().Get("attempt"); v != "" {
		if attempt, err = strconv.Atoi(v); err != nil || attempt < 1 {
			return trainyard.Errorf(trainyard.Invalid, "attempt %q: want an attempt of the job, 1 or more", v)
		}
	}
	waitMS, _ := strconv.Atoi(r.URL.Query().Get("wait_ms"))
	deadline := time.Now().Add(min(time.Duration(waitMS)*time.Millisecond, 30*time.Second))
	for {
		changed := s.changed.C()
		j, err := s.Store.Job(ctx, ws, name)
		if err != nil {
			return err
		}
		// A gang that ended still has ranks stopping, whose last lines are to come: until
		// they are in, its log says Finalizing, so a stream reads on. The status is taken
		// before the log is read: a rank that ends in between has then sent its last lines
		// before the reader hears that the job is over.
		status := j.Status
		if status.Terminal() && j.Ranked() && s.ranksRunning(ctx, j) {
			status = trainyard.JobFinalizing
		}
		var data []byte
		switch {
		case attempt > j.Attempt:
			return trainyard.Errorf(trainyard.NotFound, "job %s has no attempt %d: it is at attempt %d", j.Name, attempt, j.Attempt)
		case attempt > 0:
			data, err = s.readAttemptLog(r.Context(), j, attempt, rank, offset)
		case rank < 0:
			data, err = s.readJobLog(j, offset)
		case rank >= j.InstanceCount*j.Distribution.Processes() || !j.Ranked():
			return trainyard.Errorf(trainyard.NotFound, "job %s has no rank %d: it runs %d process(es) on %d node(s); leave rank out for its whole log",
				j.Name, rank, j.InstanceCount*j.Distribution.Processes(), j.InstanceCount)
		default:
			data, err = readAt(s.rankLogPath(j.ID, rank), offset, maxLogRead)
		}
		if err != nil {
			return err
		}
		building := j.Status == trainyard.JobPreparing && j.Node == ""
		if building {
			// The builder does not signal each line it writes: look again soon.
			if soon := time.Now().Add(time.Second); soon.Before(deadline) {
				deadline = soon
			}
		}
		if len(data) > 0 || status.Terminal() || time.Now().After(deadline) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Content-Length", strconv.Itoa(len(data))) // the reader sizes its buffer once
			w.Header().Set("Trainyard-Job-Status", string(status))
			w.Write(data)
			return nil
		}
		select {
		case <-changed:
		case <-time.After(time.Until(deadline)):
		case <-ctx.Done():
			return nil
		}
	}
}

// readJobLog reads a job's log from offset. The log of the image build the job waited for,
// if any, comes first: it is complete before the job's command writes a byte, so offsets into
// the whole never change meaning.
func (s *Server) readJobLog(j store.JobRow, offset int64) ([]byte, error) {
	if j.BuildLog != "" {
		build := BuildLogPath(s.DataDir, j.BuildLog)
		data, err := readAt(build, offset, maxLogRead)
		if err != nil || len(data) > 0 || j.Status == trainyard.JobPreparing && j.Node == "" {
			return data, err
		}
		fi, err := os.Stat(build)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err == nil {
			offset = max(0, offset-fi.Size())
		}
	}
	return readAt(s.logPath(j.ID), offset, maxLogRead)
}

func readAt(path string, offset int64, max int) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if fi.Size() <= offset {
		return nil, nil
	}
	buf := make([]byte, min(int64(max), fi.Size()-offset)) // what there is, not max, for a tail
	n, err := f.ReadAt(buf, offset)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

func (s *Server) jobOutputs(w http.ResponseWriter, r *http.Request) error {
	j, err := s.Store.Job(r.Context(), r.PathValue("ws"), r.PathValue("name"))
	if err != nil {
		return err
	}
	missing := trainyard.Errorf(trainyard.NotFound, "job %q has no outputs: it wrote nothing to ./outputs", j.Name)
	if !j.Status.Terminal() {
		missing = trainyard.Errorf(trainyard.Conflict, "job %q is %s; its outputs are uploaded when it ends: wait with trainyard job stream --name %s", j.Name, j.Status, j.Name)
	}
	return serveGzip(w, s.outputsPath(j.ID), missing)
}

// appendLog adds data at offset to a job's log. A chunk the server already holds (an agent's
// retry) is skipped, not written twice; a chunk past the end is refused with the size, so the
// agent resends from there. The bytes are synced before the answer.
func appendLog(path string, offset int64, data []byte) (int64, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return 0, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	switch {
	case offset > size:
		return size, trainyard.Errorf(trainyard.Conflict, "log offset %d is past the %d bytes held; resend from %d", offset, size, size)
	case offset+int64(len(data)) <= size:
		return size, nil
	}
	n, err := f.WriteAt(data[size-offset:], size)
	if err != nil {
		return size, err
	}
	if err := f.Sync(); err != nil {
		return size, err
	}
	return size + int64(n), nil
}

// serveGzip sends the tar.gz at path, or missing when there is none.
func serveGzip(w http.ResponseWriter, path string, missing error) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return missing
	}
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/gzip")
	_, err = io.Copy(w, f)
	return err
}
