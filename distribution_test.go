package trainyard_test

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

func TestParseDistribution(t *testing.T) {
	tests := []struct {
		name    string
		in      map[string]any
		want    trainyard.Distribution
		wantErr string
	}{
		{name: "pytorch", in: map[string]any{"type": "pytorch"}, want: trainyard.Distribution{Type: trainyard.DistributionPyTorch}},
		{name: "pytorch, one process per node", in: map[string]any{"type": "PyTorch", "process_count_per_instance": float64(1)},
			want: trainyard.Distribution{Type: trainyard.DistributionPyTorch, ProcessCountPerInstance: 1}},
		{name: "a number as the API decodes it", in: map[string]any{"type": "pytorch", "process_count_per_instance": json.Number("1")},
			want: trainyard.Distribution{Type: trainyard.DistributionPyTorch, ProcessCountPerInstance: 1}},
		{name: "unknown type", in: map[string]any{"type": "horovod"}, wantErr: `distribution.type "horovod": must be pytorch, mpi or tensorflow`},
		{name: "no type", in: map[string]any{"process_count_per_instance": 1}, wantErr: `distribution.type "": must be`},
		{name: "a key of another type", in: map[string]any{"type": "pytorch", "worker_count": 2},
			wantErr: "distribution.worker_count: not a key of a pytorch distribution, which has type, process_count_per_instance"},
		{name: "a fraction", in: map[string]any{"type": "pytorch", "process_count_per_instance": 1.5},
			wantErr: "distribution.process_count_per_instance 1.5: must be a whole number, 1 or more"},
		{name: "zero", in: map[string]any{"type": "pytorch", "process_count_per_instance": 0},
			wantErr: "distribution.process_count_per_instance 0: must be a whole number, 1 or more"},
		// Case C-08: MPI says how many processes a node runs.
		{name: "mpi without process count", in: map[string]any{"type": "mpi"},
			wantErr: "distribution.process_count_per_instance is required for an mpi job"},
		{name: "mpi, not launched yet", in: map[string]any{"type": "mpi", "process_count_per_instance": 2},
			wantErr: "distribution.type mpi: only pytorch jobs are launched by this server yet"},
		{name: "tensorflow, not launched yet", in: map[string]any{"type": "tensorflow", "worker_count": 2},
			wantErr: "distribution.type tensorflow: only pytorch jobs are launched by this server yet"},
		{name: "several processes per node, not yet", in: map[string]any{"type": "pytorch", "process_count_per_instance": 8},
			wantErr: "distribution.process_count_per_instance 8: one process per node is launched yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := trainyard.ParseDistribution(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseDistribution(%v) error = %v, want one with %q", tt.in, err, tt.wantErr)
				}
				if trainyard.ErrorCode(err) != trainyard.Invalid {
					t.Errorf("code = %s, want %s", trainyard.ErrorCode(err), trainyard.Invalid)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDistribution(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRankEnv(t *testing.T) {
	g := trainyard.Gang{Nodes: 2, MasterAddr: "127.0.0.2", MasterPort: trainyard.DefaultMasterPort}
	for rank, want := range []map[string]string{
		{"MASTER_ADDR": "127.0.0.2", "MASTER_PORT": "6105", "WORLD_SIZE": "2", "NODE_RANK": "0", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"},
		{"MASTER_ADDR": "127.0.0.2", "MASTER_PORT": "6105", "WORLD_SIZE": "2", "NODE_RANK": "1", "RANK": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"},
	} {
		if got := trainyard.RankEnv(g, rank); !maps.Equal(got, want) {
			t.Errorf("RankEnv(rank %d) = %v, want %v", rank, got, want)
		}
	}
}
