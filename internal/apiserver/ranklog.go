package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/store"
)

// rankLogPath is the log of one rank of a multi-node job (one process per node).
func (s *Server) rankLogPath(id int64, rank int) string {
	return filepath.Join(s.jobDir(id), "user_logs", fmt.Sprintf("std_log_process_%d.txt", rank))
}

// appendRankLog appends a chunk of a rank's log at offset to the rank's own file, and what is
// new in it, each line tagged "[rank N] ", to the job's std_log.txt, which job stream reads:
// the ranks' lines interleaved as they arrive. The rank's file is the record; offsets are its.
func (s *Server) appendRankLog(ctx context.Context, j store.JobRow, nodeID string, offset int64, data []byte) (int64, error) {
	r, ok, err := s.Store.RankOf(ctx, j.ID, nodeID)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, trainyard.Errorf(trainyard.Forbidden, "job %d has no rank on this node", j.ID)
	}
	path := s.rankLogPath(j.ID, r.Rank)
	s.logMu.Lock()
	defer s.logMu.Unlock()
	before, atLineStart := lastByte(path)

	size, err := appendLog(path, offset, data)
	if err != nil || size <= before {
		return size, err
	}
	added := tagLines(data[before-offset:size-offset], fmt.Sprintf("[rank %d] ", r.Rank), atLineStart)
	merged := s.logPath(j.ID)
	var end int64
	if fi, err := os.Stat(merged); err == nil {
		end = fi.Size()
	}
	if _, err := appendLog(merged, end, added); err != nil {
		return size, err
	}
	return size, nil
}

// tagLines puts tag before every line of b that starts in it; the first line only when b
// starts a line.
func tagLines(b []byte, tag string, atLineStart bool) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		if atLineStart {
			out.WriteString(tag)
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			out.Write(b)
			break
		}
		out.Write(b[:i+1])
		b, atLineStart = b[i+1:], true
	}
	return out.Bytes()
}

// lastByte returns the size of the file at path and whether it ends a line (or is empty).
func lastByte(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, true
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() == 0 {
		return 0, true
	}
	var c [1]byte
	_, err = f.ReadAt(c[:], fi.Size()-1)
	return fi.Size(), err != nil || c[0] == '\n'
}
