package apiserver

import (
	"testing"

	"github.com/trainyard/trainyard"
)

// The lines a node's launcher sends are split to their processes' logs by the tag each
// launcher puts on them; an untagged line is the launcher's own.
func TestProcessLine(t *testing.T) {
	tests := []struct {
		name     string
		launcher trainyard.DistributionType
		line     string
		wantRank int
		wantText string
		wantOK   bool
	}{
		{"trainyard's launcher", trainyard.DistributionPyTorch, "[process 3] loss 0.5\n", 3, "loss 0.5\n", true},
		{"mpirun stdout", trainyard.DistributionMPI, "[1,2]<stdout>:rank 2 of 4\n", 2, "rank 2 of 4\n", true},
		{"mpirun stderr", trainyard.DistributionMPI, "[1,11]<stderr>:Traceback\n", 11, "Traceback\n", true},
		{"mpirun's own words", trainyard.DistributionMPI, "--------------------\n", 0, "--------------------\n", false},
		{"an mpi line that only starts like a tag", trainyard.DistributionMPI, "[warn] <stdout>: odd\n", 0, "[warn] <stdout>: odd\n", false},
		{"an mpi tag is no launcher tag", trainyard.DistributionPyTorch, "[1,0]<stdout>:x\n", 0, "[1,0]<stdout>:x\n", false},
		{"a negative rank", trainyard.DistributionPyTorch, "[process -1] x\n", -1, "x\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rank, text, ok := processLine(tt.launcher, []byte(tt.line))
			if ok != tt.wantOK || ok && (rank != tt.wantRank || string(text) != tt.wantText) || !ok && string(text) != tt.wantText {
				t.Errorf("processLine(%s, %q) = %d, %q, %v; want %d, %q, %v", tt.launcher, tt.line, rank, text, ok, tt.wantRank, tt.wantText, tt.wantOK)
			}
		})
	}
}
