package apiserver

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/store"
)

// maxPendingLine bounds the unfinished last line of a rank held back from the job's log: a
// longer one goes out without waiting for its end.
const maxPendingLine = 64 << 10

// rankLogPath is the log of one process of a multi-node job, by its global rank.
func (s *Server) rankLogPath(id int64, rank int) string {
	return filepath.Join(s.jobDir(id), "user_logs", fmt.Sprintf("std_log_process_%d.txt", rank))
}

// nodeLogPath is what node rank of job j sent, as it sent it: with one process per node, that
// process's log; else the launcher's output, which appendTagged splits by process. mpirun,
// on rank 0, carries the output of every process of an mpi job.
func (s *Server) nodeLogPath(j store.JobRow, rank int) string {
	if launched(j) {
		return filepath.Join(s.jobDir(j.ID), "user_logs", fmt.Sprintf("std_log_node_%d.txt", rank))
	}
	return s.rankLogPath(j.ID, rank)
}

// launched reports whether a job's nodes send their processes' output through a launcher
// that tags each line with its process.
func launched(j store.JobRow) bool {
	d := j.Distribution
	return d.Type == trainyard.DistributionMPI || d.Type == trainyard.DistributionPyTorch && d.Processes() > 1
}

// appendAttemptLog appends a chunk of attempt's log, which its agent counts from 0, to the
// job's log: a single-node job's straight into std_log.txt after the attempts before it, a
// ranked job's through its rank's own file. A chunk of an attempt that no longer owns the log
// is refused.
func (s *Server) appendAttemptLog(ctx context.Context, j store.JobRow, attempt int, nodeID string, offset int64, data []byte) (int64, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	owner, _, err := s.Store.LogStart(ctx, j.ID)
	if err != nil {
		return 0, err
	}
	if attempt < owner {
		return 0, trainyard.Errorf(trainyard.Conflict, "attempt %d of job %s was superseded by attempt %d; this node stops it", attempt, j.Name, owner)
	}
	base, err := s.attemptLog(ctx, j, attempt)
	if err != nil {
		return 0, err
	}
	if j.Ranked() {
		return s.appendRankLog(ctx, j, nodeID, offset, data)
	}
	size, err := appendLog(s.logPath(j.ID), base+offset, data)
	return size - base, err
}

// appendRankLog appends a chunk of a rank's log at offset to the rank's own file, which is the
// record and whose offsets these are (call it with logMu held). The job's std_log.txt, which job stream reads, gets each
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
	path := s.nodeLogPath(j, r.Rank)
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
	return size, s.appendTagged(j, r.Rank, text[:end])
}

// flushRankLog sends what is left of a rank's unfinished last line to the job's log, when the
// rank has ended. Call it with logMu held.
func (s *Server) flushRankLog(ctx context.Context, j store.JobRow, nodeID string) error {
	r, ok, err := s.Store.RankOf(ctx, j.ID, nodeID)
	if err != nil || !ok {
		return err
	}
	if rest := unfinishedLine(s.nodeLogPath(j, r.Rank)); len(rest) > 0 {
		return s.appendTagged(j, r.Rank, append(rest, '\n'))
	}
	return nil
}

// appendTagged appends whole lines of node rank to the job's log, each tagged with its
// process's rank. A line the launcher tagged "[process R] " is process R's, and also goes to
// that process's own log.
func (s *Server) appendTagged(j store.JobRow, rank int, lines []byte) error {
	var out bytes.Buffer
	for len(lines) > 0 {
		line := lines
		if i := bytes.IndexByte(lines, '\n'); i >= 0 {
			line = lines[:i+1]
		}
		lines = lines[len(line):]
		proc, text := rank, line
		if launched(j) {
			var ok bool
			if proc, text, ok = processLine(j.Distribution.Type, line); !ok {
				fmt.Fprintf(&out, "[node %d] %s", rank, line) // the launcher's own words
				continue
			}
			p := s.rankLogPath(j.ID, proc)
			if _, err := appendLog(p, fileSize(p), text); err != nil {
				return err
			}
		}
		fmt.Fprintf(&out, "[rank %d] %s", proc, text)
	}
	merged := s.logPath(j.ID)
	_, err := appendLog(merged, fileSize(merged), out.Bytes())
	return err
}

// processLine splits a line its launcher tagged with its process's rank: trainyard's
// launcher "[process R] TEXT", mpirun --tag-output "[1,R]<stdout>:TEXT" (or <stderr>).
func processLine(launcher trainyard.DistributionType, line []byte) (rank int, text []byte, ok bool) {
	open, sep := []byte("[process "), []byte("] ")
	if launcher == trainyard.DistributionMPI {
		open, sep = []byte("["), []byte(">:")
	}
	rest, found := bytes.CutPrefix(line, open)
	if !found {
		return 0, line, false
	}
	num, text, found := bytes.Cut(rest, sep)
	if !found {
		return 0, line, false
	}
	if launcher == trainyard.DistributionMPI {
		// "1,R]<stdout" or "1,R]<stderr": the job's number, then the rank.
		_, num, found = bytes.Cut(num, []byte(","))
		if num, _, found = bytes.Cut(num, []byte("]<")); !found {
			return 0, line, false
		}
	}
	rank, err := strconv.Atoi(string(num))
	return rank, text, err == nil && rank >= 0
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
