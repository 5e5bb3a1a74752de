package apiserver

import (
	"fmt"
	"strings"
	"testing"
)

// The lines trainyard's launcher sends are split to their processes' logs by the tag it puts
// on each; an untagged line is the launcher's own.
func TestProcessLine(t *testing.T) {
	tests := []struct {
		name     string
		line     string
		wantRank int
		wantText string
		wantOK   bool
	}{
		{"a process's line", "[process 3] loss 0.5\n", 3, "loss 0.5\n", true},
		{"the launcher's own words", "trainyard: process 1 exited with code 3\n", 0, "trainyard: process 1 exited with code 3\n", false},
		{"an mpi tag is no launcher tag", "[1,0]<stdout>:x\n", 0, "[1,0]<stdout>:x\n", false},
		{"a negative rank", "[process -1] x\n", -1, "x\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rank, text, ok := processLine([]byte(tt.line))
			if ok != tt.wantOK || ok && (rank != tt.wantRank || string(text) != tt.wantText) || !ok && string(text) != tt.wantText {
				t.Errorf("processLine(%q) = %d, %q, %v; want %d, %q, %v", tt.line, rank, text, ok, tt.wantRank, tt.wantText, tt.wantOK)
			}
		})
	}
}

// mpirun --tag-output tags each write, not each line: a process's line written in pieces
// comes back whole, under its own rank, however the pieces interleave with other processes'
// and however the chunks fall.
func TestMPISplit(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string // whole lines of mpirun's output, as they arrive
		want   []string // "R text" lines, R -1 for mpirun's own; then what flush leaves
	}{
		{"one write per line", []string{"[1,0]<stdout>:rank 0 of 4\n[1,3]<stderr>:oops\n"},
			[]string{"0 rank 0 of 4", "3 oops"}},
		{"print's text, then its newline, between another's",
			[]string{"[1,2]<stdout>:proc 2 line 0[1,3]<stdout>:proc 3 line 0[1,2]<stdout>:\n", "[1,3]<stdout>:\n"},
			[]string{"2 proc 2 line 0", "3 proc 3 line 0"}},
		{"a traceback in many writes", []string{"[1,1]<stderr>:    [1,1]<stderr>:   ^^^^^[1,1]<stderr>:^^^^\n"},
			[]string{"1        ^^^^^^^^^"}},
		{"mpirun's own words", []string{"--------------------\n[1,0]<stdout>:x\nPrimary job terminated normally\n"},
			[]string{"-1 --------------------", "0 x", "-1 Primary job terminated normally"}},
		{"a line left without its newline comes at flush", []string{"[1,1]<stdout>:last words[1,0]<stdout>:done\n"},
			[]string{"0 done", "1 last words"}},
		{"a large rank", []string{"[1,123]<stdout>:hi\n"}, []string{"123 hi"}},
		{"a process's stdout piece and its stderr line stay apart",
			[]string{"[1,2]<stdout>:out=0 part1 [1,2]<stderr>:err=0 whole\n", "[1,2]<stdout>:part2 END\n"},
			[]string{"2 err=0 whole", "2 out=0 part1 part2 END"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m mpiSplit
			var got []string
			add := func(ls []procLine) {
				for _, l := range ls {
					got = append(got, fmt.Sprintf("%d %s", l.proc, strings.TrimSuffix(string(l.text), "\n")))
				}
			}
			for _, c := range tt.chunks {
				add(m.feed([]byte(c)))
			}
			add(m.flush())
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("lines = %q, want %q", got, tt.want)
			}
		})
	}
}

// mpirun's own words name the process that ended the job, in either of its two forms.
func TestMPICulprit(t *testing.T) {
	tests := []struct{ out, want string }{
		{"-----\nmpirun detected that one or more processes exited with non-zero status, thus causing\nthe job to be terminated. The first process to do so was:\n\n  Process name: [[6866,1],1]\n  Exit code:    3\n-----\n",
			"process 1 exited with code 3"},
		{"mpirun noticed that process rank 2 with PID 0 on node vm exited on signal 9 (Killed).\n", "process 2 was killed by signal 9"},
		{"[vm:30621] [[7011,0],0] ORTE_ERROR_LOG: Data unpack would read past end of buffer\n", ""},
	}
	for _, tt := range tests {
		if got := mpiCulprit([]byte(tt.out)); got != tt.want {
			t.Errorf("mpiCulprit(%q) = %q, want %q", tt.out, got, tt.want)
		}
	}
}
