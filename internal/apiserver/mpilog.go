package apiserver

import (
	"bytes"
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
)

// mpiTag is what mpirun --tag-output puts before each write of a process: "[JOB,RANK]<stdout>:".
var mpiTag = regexp.MustCompile(`\[\d+,(\d+)\]<(std(?:out|err|diag))>:`)

// mpiSplit rebuilds the lines of an mpi job's processes from mpirun's output. mpirun tags each
// write, not each line, so a line a process wrote in pieces (Python's print writes the text,
// then the newline) comes in pieces between other processes' output; each process's pieces
// wait here until its newline comes.
type mpiSplit struct {
	pending map[stream][]byte // rank -1 holds mpirun's own words
}

// stream is one output stream of one process: a process's stdout and stderr lines are apart.
type stream struct {
	rank int
	name string // stdout, stderr or stddiag
}

// procLine is one whole line of process proc; proc -1 is the launcher's own.
type procLine struct {
	proc int
	text []byte // ends with '\n'
}

// feed takes whole lines of mpirun's output and returns the process lines they complete, in
// the order their newlines came.
func (m *mpiSplit) feed(raw []byte) []procLine {
	if m.pending == nil {
		m.pending = map[stream][]byte{}
	}
	var out []procLine
	for len(raw) > 0 {
		var line []byte
		line, raw = cutLine(raw)
		cur := stream{rank: -1} // a line that starts untagged is mpirun's own
		for {
			loc := mpiTag.FindSubmatchIndex(line)
			if loc == nil {
				break
			}
			m.pending[cur] = append(m.pending[cur], line[:loc[0]]...)
			cur.rank, _ = strconv.Atoi(string(line[loc[2]:loc[3]]))
			cur.name = string(line[loc[4]:loc[5]])
			line = line[loc[1]:]
		}
		text, ended := bytes.CutSuffix(line, []byte("\n"))
		m.pending[cur] = append(m.pending[cur], text...)
		if ended {
			out = append(out, procLine{cur.rank, append(m.pending[cur], '\n')})
			delete(m.pending, cur)
		}
	}
	// What mpirun said between processes' pieces, untagged, is a line of its own.
	if p := m.pending[stream{rank: -1}]; len(bytes.TrimSpace(p)) == 0 {
		delete(m.pending, stream{rank: -1})
	}
	return out
}

// flush returns the pieces still waiting, each as a line: the processes ended without their
// newline.
func (m *mpiSplit) flush() []procLine {
	keys := slices.SortedFunc(maps.Keys(m.pending), func(a, b stream) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), cmp.Compare(a.name, b.name))
	})
	var out []procLine
	for _, k := range keys {
		out = append(out, procLine{k.rank, append(m.pending[k], '\n')})
		delete(m.pending, k)
	}
	return out
}

// Open MPI's words for the process that ended an mpi job, in mpirun's own output.
var (
	mpiExited   = regexp.MustCompile(`Process name: \[\[\d+,\d+\],(\d+)\]\s+Exit code:\s+(\d+)`)
	mpiSignaled = regexp.MustCompile(`process rank (\d+) with PID \d+ on node \S+ exited on signal (\d+)`)
)

// mpiCulprit names the process whose end ended an mpi job, as mpirun's output tells it; ""
// when it does not.
func mpiCulprit(out []byte) string {
	if m := mpiExited.FindSubmatch(out); m != nil {
		return fmt.Sprintf("process %s exited with code %s", m[1], m[2])
	}
	if m := mpiSignaled.FindSubmatch(out); m != nil {
		return fmt.Sprintf("process %s was killed by signal %s", m[1], m[2])
	}
	return ""
}
