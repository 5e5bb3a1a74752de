package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/store"
)

// maxPendingLine bounds the unfinished last line of a rank held back from the job's log: a
// longer one goes out without waiting for its end.
const maxPendingLine = 64 << 10

// rankLogPath is the log of one rank of a multi-node job (one process per node).
func (s *Server) rankLogPath(id int64, rank int) string {
	return filepath.Join(s.jobDir(id), "user_logs", fmt.Sprintf("std_log_process_%d.txt", rank))
}

// appendRankLog appends a chunk of a rank's log at offset to the rank's own file, which is the
// record and whose offsets these are. The job's std_log.txt, which job stream reads, gets each
// of the rank's lines once it is whole, tagged "[rank N] ": the ranks' lines interleave, never
// their pieces.
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
	pending := unfinishedLine(path)
	before := fileSize(path)
	size, err := appendLog(path, offset, data)
	if err != nil || size <= before {
		return size, err
	}
	text := append(pending, data[before-offset:size-offset]...)
	end := bytes.LastIndexByte(text, '\n') + 1
	if end == 0 && len(text) < maxPendingLine {
		return size, nil // no whole line yet
	}
	if end == 0 {
		end = len(text)
	}
	return size, s.appendTagged(j.ID, r.Rank, text[:end])
}

// flushRankLog sends what is left of a rank's unfinished last line to the job's log, when the
// rank has ended.
func (s *Server) flushRankLog(ctx context.Context, j store.JobRow, nodeID string) error {
	r, ok, err := s.Store.RankOf(ctx, j.ID, nodeID)
	if err != nil || !ok {
		return err
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if rest := unfinishedLine(s.rankLogPath(j.ID, r.Rank)); len(rest) > 0 {
		return s.appendTagged(j.ID, r.Rank, append(rest, '\n'))
	}
	return nil
}

// appendTagged appends whole lines of a rank to the job's log, each tagged with the rank.
func (s *Server) appendTagged(id int64, rank int, lines []byte) error {
	tag := fmt.Sprintf("[rank %d] ", rank)
	var out bytes.Buffer
	for len(lines) > 0 {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line = lines[:i+1]
		}
		out.WriteString(tag)
		out.Write(line)
		lines = lines[len(line):]
	}
	merged := s.logPath(id)
	_, err := appendLog(merged, fileSize(merged), out.Bytes())
	return err
}

// unfinishedLine is the end of the file at path after its last newline: a line not yet sent
// to the job's log, or nil when the file ends a line (or that end is too long to hold back).
func unfinishedLine(path string) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	size := fileSize(path)
	from := max(0, size-maxPendingLine)
	tail, err := io.ReadAll(io.NewSectionReader(f, from, size-from))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(tail, '\n')
	if i < 0 && from > 0 {
		return nil
	}
	return tail[i+1:]
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// ranksRunning reports whether a rank of gang j has not ended yet.
func (s *Server) ranksRunning(ctx context.Context, j store.JobRow) bool {
	ranks, err := s.Store.Ranks(ctx, j.ID)
	if err != nil {
		return false
	}
	for _, r := range ranks {
		if r.State != store.RankDone {
			return true
		}
	}
	return false
}
