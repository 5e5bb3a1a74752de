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
		{name: "a typo's thousands of processes", in: map[string]any{"type": "mpi", "process_count_per_instance": 100000},
			wantErr: "distribution.process_count_per_instance 100000: a node runs at most 256 processes"},
		{name: "a fraction", in: map[string]any{"type": "pytorch", "process_count_per_instance": 1.5},
			wantErr: "distribution.process_count_per_instance 1.5: must be a whole number, 1 or more"},
		{name: "no parameter servers", in: map[string]any{"type": "tensorflow", "parameter_server_count": 0},
			want: trainyard.Distribution{Type: trainyard.DistributionTensorFlow}},
		{name: "zero", in: map[string]any{"type": "pytorch", "process_count_per_instance": 0},
			wantErr: "distribution.process_count_per_instance 0: must be a whole number, 1 or more"},
		// Case C-08: MPI says how many processes a node runs.
		{name: "mpi without process count", in: map[string]any{"type": "mpi"},
			wantErr: "distribution.process_count_per_instance is required for an mpi job"},
		{name: "mpi, two processes per node", in: map[string]any{"type": "mpi", "process_count_per_instance": 2},
			want: trainyard.Distribution{Type: trainyard.DistributionMPI, ProcessCountPerInstance: 2}},
		{name: "tensorflow", in: map[string]any{"type": "tensorflow", "worker_count": 2, "parameter_server_count": 1},
			want: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, WorkerCount: 2, ParameterServerCount: 1}},
		{name: "several pytorch processes per node", in: map[string]any{"type": "pytorch", "process_count_per_instance": 8},
			want: trainyard.Distribution{Type: trainyard.DistributionPyTorch, ProcessCountPerInstance: 8}},
		{name: "several tensorflow processes per node, not yet", in: map[string]any{"type": "tensorflow", "process_count_per_instance": 2},
			wantErr: "distribution.process_count_per_instance: not a key of a tensorflow distribution"},
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
	g := trainyard.Gang{Nodes: 2, MasterAddr: "127.0.0.2", MasterPort: 20100, Addrs: []string{"127.0.0.2", "127.0.0.3"}}
	for rank, want := range []map[string]string{
		{"MASTER_ADDR": "127.0.0.2", "MASTER_PORT": "20100", "WORLD_SIZE": "2", "NODE_RANK": "0", "RANK": "0", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"},
		{"MASTER_ADDR": "127.0.0.2", "MASTER_PORT": "20100", "WORLD_SIZE": "2", "NODE_RANK": "1", "RANK": "1", "LOCAL_RANK": "0", "LOCAL_WORLD_SIZE": "1"},
	} {
		if got := trainyard.RankEnv(trainyard.Distribution{Type: trainyard.DistributionPyTorch}, g, rank); !maps.Equal(got, want) {
			t.Errorf("RankEnv(rank %d) = %v, want %v", rank, got, want)
		}
	}
}

func TestTFConfig(t *testing.T) {
	tests := []struct {
		name string
		d    trainyard.Distribution
		g    trainyard.Gang
		rank int
		want string
	}{
		{name: "two workers on their own addresses", d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, WorkerCount: 2},
			g: trainyard.Gang{Nodes: 2, MasterPort: 20100, Addrs: []string{"127.0.0.2", "127.0.0.3"}}, rank: 1,
			want: `{"cluster":{"worker":["127.0.0.2:20100","127.0.0.3:20101"]},"task":{"type":"worker","index":1},"environment":"cloud"}`},
		{name: "a parameter server, on a shared address", d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, WorkerCount: 2, ParameterServerCount: 1},
			g: trainyard.Gang{Nodes: 3, MasterPort: 20007, Addrs: []string{"127.0.0.1", "127.0.0.1", "127.0.0.1"}}, rank: 2,
			want: `{"cluster":{"ps":["127.0.0.1:20009"],"worker":["127.0.0.1:20007","127.0.0.1:20008"]},"task":{"type":"ps","index":0},"environment":"cloud"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := trainyard.RankEnv(tt.d, tt.g, tt.rank)["TF_CONFIG"]; got != tt.want {
				t.Errorf("TF_CONFIG = %s\nwant       %s", got, tt.want)
			}
		})
	}
}

func TestCheckNodes(t *testing.T) {
	tests := []struct {
		d          trainyard.Distribution
		nodes      int
		wantWorker int
		wantErr    string
	}{
		{d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow}, nodes: 3, wantWorker: 3},
		{d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, ParameterServerCount: 1}, nodes: 3, wantWorker: 2},
		{d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, WorkerCount: 2, ParameterServerCount: 1}, nodes: 2,
			wantErr: "worker_count 2 and parameter_server_count 1 are 3 processes, but the job takes 2 node(s)"},
		{d: trainyard.Distribution{Type: trainyard.DistributionTensorFlow, ParameterServerCount: 2}, nodes: 2,
			wantErr: "worker_count 0 and parameter_server_count 2"},
		{d: trainyard.Distribution{Type: trainyard.DistributionPyTorch}, nodes: 4},
	}
	for _, tt := range tests {
		err := tt.d.CheckNodes(tt.nodes)
		switch {
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v.CheckNodes(%d) = %v, want an error with %q", tt.d, tt.nodes, err, tt.wantErr)
		case tt.wantErr == "" && (err != nil || tt.d.WorkerCount != tt.wantWorker):
			t.Errorf("CheckNodes(%d) = %v, worker_count %d; want %d", tt.nodes, err, tt.d.WorkerCount, tt.wantWorker)
		}
	}
}

func TestRankCommand(t *testing.T) {
	mpi := trainyard.Distribution{Type: trainyard.DistributionMPI, ProcessCountPerInstance: 2}
	g := trainyard.Gang{Nodes: 2, MasterAddr: "127.0.0.2", MasterPort: 20100, Addrs: []string{"127.0.0.2", "127.0.0.3"}, Secret: "s"}
	tests := []struct {
		name string
		d    trainyard.Distribution
		rank int
		want []string // parts of the command, in order
	}{
		{name: "pytorch runs the command as it is", d: trainyard.Distribution{Type: trainyard.DistributionPyTorch}, rank: 1,
			want: []string{"python train.py --lr 'x'"}},
		{name: "mpi rank 0 runs mpirun over every node", d: mpi, rank: 0,
			want: []string{"command -v mpirun >/dev/null || { echo \"trainyard: an mpi job runs mpirun, which this node lacks", "exec mpirun", "--np 4", "--host localhost:2,rank1:2", `plm_rsh_agent "$TRAINYARD_BIN agent mpi-rsh"`, "--mca odls_base_sigkill_timeout 3",
				"btl_tcp_if_include lo", `cd "${TRAINYARD_OUTPUTS_DIR%/outputs}"`, `'python train.py --lr '\''x'\'''`}},
		{name: "pytorch of 2 per node: the launcher, rank 1's processes from global rank 2",
			d: trainyard.Distribution{Type: trainyard.DistributionPyTorch, ProcessCountPerInstance: 2}, rank: 1,
			want: []string{`exec "$TRAINYARD_BIN" agent launch --procs 2 --first-rank 2 -- 'python train.py`}},
		{name: "mpi rank 1 runs the relay", d: mpi, rank: 1,
			want: []string{`exec "$TRAINYARD_BIN" agent mpi-worker --listen 127.0.0.3:20101`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := trainyard.RankCommand(tt.d, g, tt.rank, "python train.py --lr 'x'")
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("RankCommand = %s\nwant, in order, %q", got, tt.want)
				}
				rest = rest[i+len(w):]
			}
		})
	}
	env := trainyard.RankEnv(mpi, g, 0)
	if env["AZ_BATCH_MASTER_NODE"] != "127.0.0.2:20100" || env["TRAINYARD_MPI_HOSTS"] != "rank1=127.0.0.3:20101" || env["TRAINYARD_MPI_SECRET"] != "s" {
		t.Errorf("mpi RankEnv = %v", env)
	}
}
