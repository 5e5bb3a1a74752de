package apiserver

import (
	"bytes"
	"regexp"
	"strconv"
)

// mpiTag is what mpirun --tag-output puts before each write of a process: "[JOB,RANK]<stdout>:".
var mpiTag = regexp.MustCompile(`\[\d+,(\d+)\]<std(?:out|err|diag)>:`)

// mpiSplit rebuilds the lines of an mpi job's processes from mpirun's output. mpirun tags each
// write, not each line, so a line a process wrote in pieces (Python's print writes the text,
// then the newline) comes in pieces between other processes' output; each process's pieces
// wait here until its newline comes.
type mpiSplit struct {
	pending map[int][]byte // by process rank; -1 holds mpirun's own words
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
		m.pending = map[int][]byte{}
	}
	var out []procLine
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		cur := -1 // a line that starts untagged is mpirun's own
		for {
			loc := mpiTag.FindSubmatchIndex(line)
			if loc == nil {
				break
			}
			m.pending[cur] = append(m.pending[cur], line[:loc[0]]...)
			cur, _ = strconv.Atoi(string(line[loc[2]:loc[3]]))
			line = line[loc[1]:]
		}
		text, ended := bytes.CutSuffix(line, []byte("\n"))
		m.pending[cur] = append(m.pending[cur], text...)
		if ended {
			out = append(out, procLine{cur, append(m.pending[cur], '\n')})
			delete(m.pending, cur)
		}
	}
	// What mpirun said between processes' pieces, untagged, is a line of its own.
	if p := m.pending[-1]; len(bytes.TrimSpace(p)) == 0 {
		delete(m.pending, -1)
	}
	return out
}

// flush returns the pieces still waiting, each as a line: the processes ended without their
// newline.
func (m *mpiSplit) flush() []procLine {
	var out []procLine
	for proc := -1; len(m.pending) > 0; proc++ {
		if p, ok := m.pending[proc]; ok {
			out = append(out, procLine{proc, append(p, '\n')})
			delete(m.pending, proc)
		}
	}
	return out
}
