package trainyard

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// DistributionType is how a multi-process job is launched (the job YAML's distribution.type).
type DistributionType string

const (
	DistributionPyTorch    DistributionType = "pytorch"
	DistributionMPI        DistributionType = "mpi"
	DistributionTensorFlow DistributionType = "tensorflow"
)

// Distribution is a job's distribution block. The zero value is a plain job: its command runs
// once on each of its nodes.
type Distribution struct {
	Type                    DistributionType
	ProcessCountPerInstance int // processes per node; 0 means 1
	WorkerCount             int // tensorflow
	ParameterServerCount    int // tensorflow
}

// Ports of multi-node jobs: each running gang gets PortsPerGang ports from FirstGangPort on, one
// per rank, chosen free among the gangs that run. The reference system's nodes are machines of
// their own, where 6105 always does; trainyard's nodes may share a host's network (local and
// docker nodes do), where two gangs on one port would meet each other.
const (
	FirstGangPort = 20000
	PortsPerGang  = 100
	GangPorts     = 100 // how many gangs can run at once
)

// ParseDistribution reads a job's distribution mapping: the key names of the Azure ML v2 job
// YAML, type first. What this server cannot launch yet is refused by name after the mapping is
// checked, so a bad block is told what is wrong with it before what is missing here.
func ParseDistribution(v map[string]any) (Distribution, error) {
	var d Distribution
	typ, _ := v["type"].(string)
	d.Type = DistributionType(strings.ToLower(typ))
	var allowed []string
	switch d.Type {
	case DistributionPyTorch, DistributionMPI:
		allowed = []string{"type", "process_count_per_instance"}
	case DistributionTensorFlow:
		allowed = []string{"type", "worker_count", "parameter_server_count"}
	default:
		return d, Errorf(Invalid, "distribution.type %q: must be pytorch, mpi or tensorflow", typ)
	}
	for _, k := range slices.Sorted(maps.Keys(v)) {
		if !slices.Contains(allowed, k) {
			return d, Errorf(Invalid, "distribution.%s: not a key of a %s distribution, which has %s", k, d.Type, strings.Join(allowed, ", "))
		}
	}
	count := func(key string, dst *int) error {
		raw, ok := v[key]
		if !ok {
			return nil
		}
		least := 1
		if key == "parameter_server_count" {
			least = 0
		}
		n, ok := wholeNumber(raw)
		if !ok || n < least {
			return Errorf(Invalid, "distribution.%s %v: must be a whole number, %d or more", key, raw, least)
		}
		*dst = n
		return nil
	}
	for _, c := range []struct {
		key string
		dst *int
	}{{"process_count_per_instance", &d.ProcessCountPerInstance}, {"worker_count", &d.WorkerCount}, {"parameter_server_count", &d.ParameterServerCount}} {
		if err := count(c.key, c.dst); err != nil {
			return d, err
		}
	}
	if d.ProcessCountPerInstance > MaxProcessesPerNode {
		return d, Errorf(Invalid, "distribution.process_count_per_instance %d: a node runs at most %d processes of a job; use one per GPU or core, and more nodes (resources.instance_count) for more",
			d.ProcessCountPerInstance, MaxProcessesPerNode)
	}
	// Case C-08: an MPI job says how many processes each node runs; nothing guesses it.
	if d.Type == DistributionMPI && d.ProcessCountPerInstance == 0 {
		return d, Errorf(Invalid, "distribution.process_count_per_instance is required for an mpi job: the number of processes each node runs, usually its GPU count (1 on CPU nodes)")
	}
	return d, nil
}

// MaxProcessesPerNode bounds process_count_per_instance: the largest sizes have some hundred
// cores; a thousand processes on one node is a typo.
const MaxProcessesPerNode = 256

// CheckNodes checks d against the nodes a job takes: a tensorflow job's workers and parameter
// servers are its processes, one per node, so together they are its node count (worker_count
// left out is the rest).
func (d *Distribution) CheckNodes(nodes int) error {
	if d.Type != DistributionTensorFlow {
		return nil
	}
	if d.WorkerCount == 0 {
		d.WorkerCount = nodes - d.ParameterServerCount
	}
	if d.WorkerCount < 1 || d.WorkerCount+d.ParameterServerCount != nodes {
		return Errorf(Invalid, "distribution: worker_count %d and parameter_server_count %d are %d processes, but the job takes %d node(s) with one process each; make them add up to resources.instance_count",
			d.WorkerCount, d.ParameterServerCount, d.WorkerCount+d.ParameterServerCount, nodes)
	}
	return nil
}

// wholeNumber accepts what a YAML or JSON number decodes to.
func wholeNumber(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), n == float64(int(n))
	case json.Number:
		i, err := n.Int64()
		return int(i), err == nil
	}
	return 0, false
}

// Gang is where the ranks of a multi-node job meet: how many nodes it has, the address and
// port of rank 0, and every rank's address. Rank r may listen on MasterPort+r.
type Gang struct {
	Nodes      int
	MasterAddr string
	MasterPort int
	Addrs      []string // by rank
	Secret     string   // opens the MPI relay of the ranks above 0
}

// RankEnv is what the process of node rank sees (SPEC §3.8): MASTER_ADDR and MASTER_PORT of
// rank 0, WORLD_SIZE, NODE_RANK, RANK, LOCAL_RANK and LOCAL_WORLD_SIZE, one process per node;
// a tensorflow job also gets TF_CONFIG. A plain job (no distribution) on several nodes sees
// the same, so its script can tell its nodes apart.
func RankEnv(d Distribution, g Gang, rank int) map[string]string {
	procs := d.Processes()
	env := map[string]string{
		"MASTER_ADDR":      g.MasterAddr,
		"MASTER_PORT":      strconv.Itoa(g.MasterPort),
		"WORLD_SIZE":       strconv.Itoa(g.Nodes * procs),
		"NODE_RANK":        strconv.Itoa(rank),
		"RANK":             strconv.Itoa(rank * procs), // each process's own, from the launcher
		"LOCAL_RANK":       "0",
		"LOCAL_WORLD_SIZE": strconv.Itoa(procs),
	}
	switch d.Type {
	case DistributionTensorFlow:
		env["TF_CONFIG"] = tfConfig(d, g, rank)
	case DistributionMPI:
		// Open MPI sets OMPI_COMM_WORLD_* in each process; these reach mpirun and the relays.
		env["AZ_BATCH_MASTER_NODE"] = g.MasterAddr + ":" + strconv.Itoa(g.MasterPort)
		env["TRAINYARD_MPI_SECRET"] = g.Secret
		var hosts []string
		for r := 1; r < len(g.Addrs); r++ {
			hosts = append(hosts, fmt.Sprintf("rank%d=%s:%d", r, g.Addrs[r], g.MasterPort+r))
		}
		env["TRAINYARD_MPI_HOSTS"] = strings.Join(hosts, ",")
	}
	return env
}

// RankCommand is what node rank runs in place of the job's command. A pytorch job of several
// processes per node runs them under trainyard's launcher ($TRAINYARD_BIN agent launch). An
// mpi job runs, on rank 0,
// mpirun starting procs = process_count_per_instance processes on every node, its remote
// shell being trainyard's relay ($TRAINYARD_BIN agent mpi-rsh), and on the others the relay's
// listener; every process starts in its own node's code folder. Other jobs run command as it
// is.
func RankCommand(d Distribution, g Gang, rank int, command string) string {
	if d.Type == DistributionPyTorch && d.Processes() > 1 {
		return fmt.Sprintf(`exec "$TRAINYARD_BIN" agent launch --procs %d --first-rank %d -- %s`, d.Processes(), rank*d.Processes(), shellQuote(command))
	}
	if d.Type != DistributionMPI {
		return command
	}
	if rank > 0 {
		return fmt.Sprintf(`exec "$TRAINYARD_BIN" agent mpi-worker --listen %s:%d`, g.Addrs[rank], g.MasterPort+rank)
	}
	procs := d.Processes()
	hosts := []string{fmt.Sprintf("localhost:%d", procs)}
	for r := 1; r < len(g.Addrs); r++ {
		hosts = append(hosts, fmt.Sprintf("rank%d:%d", r, procs))
	}
	// The nodes share this host's loopback: Open MPI talks over it, which it skips by default.
	// A stopped job's processes get 3 s between SIGTERM and SIGKILL to save their checkpoint
	// (Open MPI's default is 1). mpirun waits it out twice when a process fails, before the
	// job ends, so a longer grace would slow every failure down (8 s made it 16 s).
	return fmt.Sprintf(`command -v mpirun >/dev/null || { echo "trainyard: an mpi job runs mpirun, which this node lacks: use an image with Open MPI (trainyard/ml:bookworm-1 has it) or install it (Debian: openmpi-bin)" >&2; exit 127; }; `+
		`SHELL=/bin/sh exec mpirun --allow-run-as-root --np %d --host %s --mca plm_rsh_agent "$TRAINYARD_BIN agent mpi-rsh" `+
		`--tag-output --mca odls_base_sigkill_timeout 3 --mca plm_rsh_no_tree_spawn 1 --mca orte_tmpdir_base /tmp --mca btl self,tcp --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo --wdir /tmp `+
		`/bin/sh -c 'cd "${TRAINYARD_OUTPUTS_DIR%%/outputs}" && exec bash -c "$0"' %s`,
		procs*len(g.Addrs), strings.Join(hosts, ","), shellQuote(command))
}

// shellQuote quotes s as one word for sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// tfConfig is TF_CONFIG for rank: the first worker_count ranks are workers, the rest
// parameter servers, each at its node's address and port.
func tfConfig(d Distribution, g Gang, rank int) string {
	type task struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}
	cluster := map[string][]string{}
	var me task
	for r, addr := range g.Addrs {
		port := g.MasterPort + r
		t := task{"worker", r}
		if r >= d.WorkerCount {
			t = task{"ps", r - d.WorkerCount}
		}
		cluster[t.Type] = append(cluster[t.Type], addr+":"+strconv.Itoa(port))
		if r == rank {
			me = t
		}
	}
	b, _ := json.Marshal(struct {
		Cluster     map[string][]string `json:"cluster"`
		Task        task                `json:"task"`
		Environment string              `json:"environment"`
	}{cluster, me, "cloud"})
	return string(b)
}

// Processes is how many processes each node runs.
func (d Distribution) Processes() int { return max(1, d.ProcessCountPerInstance) }

// String is the distribution as job show gives it.
func (d Distribution) String() string {
	if d.Type == "" {
		return ""
	}
	return fmt.Sprintf("%s, %d process(es) per node", d.Type, d.Processes())
}
