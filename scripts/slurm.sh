#!/usr/bin/env bash
# scripts/slurm.sh CMD [ARG...]: run CMD beside a one-host Slurm (munged, slurmctld, slurmd as
# root, no systemd, loopback only), as REAL-COMPONENTS.md §3 measured it; CMD sees SLURM_CONF,
# TRAINYARD_SLURM_OUT (a folder any job may write to) and TRAINYARD_SLURM_JOBCOMP (one line per
# finished job). Installs munge and slurm-wlm from Debian's packages when they are missing.
# Every daemon and the temp dir go when it exits, also on failure.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "slurm.sh: run as root (slurmd runs jobs as their submitter)"; exit 1; }
[ $# -gt 0 ] || { echo "usage: scripts/slurm.sh CMD [ARG...]"; exit 2; }

if ! command -v munged >/dev/null || ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null; then
	echo "slurm.sh: installing munge and slurm-wlm"
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q munge slurm-wlm
fi

ctld_port=16817 slurmd_port=16818
for p in $ctld_port $slurmd_port; do
	if (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then
		echo "slurm.sh: port $p on 127.0.0.1 is taken (another Slurm?)"; exit 1
	fi
done

S=$(mktemp -d /tmp/trainyard-slurm.XXXXXX)
pids=()
cleanup() {
	status=$?
	# Jobs first, while the controller can still end them; then slurmd, slurmctld, munged.
	if [ -n "${SLURM_CONF:-}" ] && [ ${#pids[@]} -ge 3 ]; then
		scancel --full --user root 2>/dev/null || true
		for _ in $(seq 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.1; done
	fi
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill "${pids[i]}" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	if [ $status -ne 0 ] && [ -d "$S/log" ]; then
		echo "slurm.sh: exit $status; the last lines of the daemons' logs:"
		tail -n 20 "$S"/log/*.log 2>/dev/null || true
	fi
	rm -rf "$S"
	exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$S"/{munge,mungekey,state,spool,log,out}
chmod 755 "$S" "$S/munge" # the socket dir must be executable by all
chmod 700 "$S/mungekey"
chmod 1777 "$S/out"
dd if=/dev/urandom of="$S/mungekey/munge.key" bs=1024 count=1 status=none
chmod 600 "$S/mungekey/munge.key"

munged -F --socket="$S/munge/munge.sock" --key-file="$S/mungekey/munge.key" --log-file="$S/log/munged.log" \
	--pid-file="$S/munge/munged.pid" --seed-file="$S/mungekey/munged.seed" >>"$S/log/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$S/munge/munge.sock" ] && break; sleep 0.1; done
munge -S "$S/munge/munge.sock" -n | unmunge -S "$S/munge/munge.sock" >/dev/null

H=$(hostname -s)
cpus=$(nproc)
cat >"$S/slurm.conf" <<EOF
ClusterName=trainyard-bench
MailProg=/bin/true
SlurmctldHost=$H(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.sock
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$S/log/jobcomp.txt
MinJobAge=300
NodeName=$H NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$S/slurm.conf TRAINYARD_SLURM_OUT=$S/out TRAINYARD_SLURM_JOBCOMP=$S/log/jobcomp.txt

slurmctld -D -i >>"$S/log/slurmctld.out" 2>&1 & # -i: no state files yet
pids+=($!)
slurmd -D >>"$S/log/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 100); do
	[ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
	[ "$i" = 100 ] && { echo "slurm.sh: the node did not become idle in 20 s"; sinfo || true; exit 1; }
	sleep 0.2
done
echo "slurm.sh: $(sinfo -V) up: node $H idle, $cpus CPUs, controller 127.0.0.1:$ctld_port, conf $SLURM_CONF"

"$@"
