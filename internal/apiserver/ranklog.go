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
		return 0, refused{trainyard.Errorf(trainyard.Conflict, "attempt %d of job %s was superseded by attempt %d; this node stops it", attempt, j.Name, owner)}
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

// refused is a report the server turns down, where a Conflict of appendLog only says where the
// log stands.
type refused struct{ error }

func (r refused) Unwrap() error { return r.error }

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
		if err := s.appendTagged(j, r.Rank, append(rest, '\n')); err != nil {
			return err
		}
	}
	// mpirun has ended: what its processes left without a newline goes out as it is.
	if m := s.mpiLogs[j.ID]; m != nil && r.Rank == 0 {
		delete(s.mpiLogs, j.ID)
		return s.appendLines(j, 0, m.flush())
	}
	return nil
}

// appendTagged appends whole lines of node rank to the job's log, each tagged with its
// process's rank; a process's line also goes to that process's own log, and what a launcher
// says itself is tagged with its node. Call it with logMu held.
func (s *Server) appendTagged(j store.JobRow, rank int, lines []byte) error {
	return s.appendLines(j, rank, s.processLines(j, rank, lines))
}

// processLines splits whole lines node rank sent into its processes' lines: trainyard's
// launcher tags each "[process R] ", and mpirun, on rank 0, carries every process of an mpi
// job (the other ranks' nodes only run its relay, whose words are the launcher's).
func (s *Server) processLines(j store.JobRow, rank int, lines []byte) []procLine {
	switch {
	case j.Distribution.Type == trainyard.DistributionMPI && rank == 0:
		m := s.mpiLogs[j.ID]
		if m == nil {
			m = &mpiSplit{}
			s.mpiLogs[j.ID] = m
		}
		return m.feed(lines)
	case !launched(j):
		return wholeLines(lines, func(line []byte) procLine { return procLine{rank, line} })
	case j.Distribution.Type == trainyard.DistributionMPI:
		return wholeLines(lines, func(line []byte) procLine { return procLine{-1, line} })
	}
	return wholeLines(lines, func(line []byte) procLine {
		if proc, text, ok := processLine(line); ok {
			return procLine{proc, text}
		}
		return procLine{-1, line}
	})
}

func wholeLines(lines []byte, each func(line []byte) procLine) []procLine {
	var out []procLine
	for len(lines) > 0 {
		var line []byte
		line, lines = cutLine(lines)
		out = append(out, each(line))
	}
	return out
}

// cutLine splits b after its first newline, or at its end.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// appendLines writes process lines of node rank to the job's log and, of a launched job, to
// each process's own log.
func (s *Server) appendLines(j store.JobRow, rank int, lines []procLine) error {
	var out bytes.Buffer
	for _, l := range lines {
		if l.proc < 0 {
			fmt.Fprintf(&out, "[node %d] %s", rank, l.text)
			continue
		}
		if launched(j) {
			p := s.rankLogPath(j.ID, l.proc)
			if _, err := appendLog(p, fileSize(p), l.text); err != nil {
				return err
			}
		}
		fmt.Fprintf(&out, "[rank %d] %s", l.proc, l.text)
	}
	merged := s.logPath(j.ID)
	_, err := appendLog(merged, fileSize(merged), out.Bytes())
	return err
}

// processLine splits a line trainyard's launcher tagged "[process R] TEXT".
func processLine(line []byte) (rank int, text []byte, ok bool) {
	rest, found := bytes.CutPrefix(line, []byte("[process "))
	if !found {
		return 0, line, false
	}
	num, text, found := bytes.Cut(rest, []byte("] "))
	if !found {
		return 0, line, false
	}
	rank, err := strconv.Atoi(string(num))
	return rank, text, err == nil && rank >= 0
}

// unfinishedLine is the end of the file at path after its last newline: a line not yet sent
// to the job's log, or nil when the file ends a line (or that end is too long to hold back).
func unfinishedLine(path string) []byte {
	tail := tailOf(path, maxPendingLine)
	i := bytes.LastIndexByte(tail, '\n')
	if i < 0 && int64(len(tail)) < fileSize(path) {
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

// tailOf is the last n bytes of the file at path; nil when it cannot be read.
func tailOf(path string, n int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	size := fileSize(path)
	from := max(0, size-n)
	b, _ := io.ReadAll(io.NewSectionReader(f, from, size-from))
	return b
}
