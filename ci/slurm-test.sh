#!/usr/bin/env bash
# A sweep on a real Slurm cluster: a one-node cluster on this machine (munged, slurmctld,
# slurmd with a generated slurm.conf in a temporary folder, on ports of its own), then
#   1. `cargo xtask sweep submit` of rff-bound at smoke size over 6 seeds (a job array),
#      waited for with a time limit, `sweep collect`, the aggregated report checked and
#      compared byte for byte with the same sweep run by the local pool;
#   2. a second sweep, which cannot be submitted twice while queued, whose task 1 is
#      cancelled mid-run (`scancel JOB_1`): `collect` must refuse and list it, the
#      resubmitted array must be exactly that task, and after it every task is done once
#      (task 1 on its second attempt) and counted once.
# The daemons it started are stopped by PID at exit. Needs root (apt-get, munge key,
# SlurmUser=root); installs slurm-wlm and munge with apt-get when missing.
# Usage: ci/slurm-test.sh   (from anywhere; builds xtask with cargo first)
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
say() { echo "[slurm-test +$(( $(date +%s) - t0 ))s] $*"; }

if [ "$(id -u)" != 0 ]; then
    echo "ci/slurm-test.sh needs root (it starts munged and the Slurm daemons)" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    say "installing slurm-wlm and munge"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

cargo build -q -p xtask
xtask="$PWD/${CARGO_TARGET_DIR:-target}/debug/xtask"
case "${CARGO_TARGET_DIR:-}" in /*) xtask="$CARGO_TARGET_DIR/debug/xtask" ;; esac
[ -x "$xtask" ] || { echo "no xtask binary at $xtask" >&2; exit 1; }

work=$(mktemp -d /tmp/plres-slurm.XXXXXX)
pids=()
cleanup() {
    status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    if [ "$status" != 0 ]; then
        echo "--- slurmctld.log (tail)"; tail -n 30 "$work/slurmctld.log" 2>/dev/null || true
        echo "--- slurmd.log (tail)"; tail -n 30 "$work/slurmd.log" 2>/dev/null || true
        for f in "$work"/*/slurm/logs/*.out; do [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }; done
        echo "slurm test FAILED; its files are in $work" >&2
    else
        rm -rf "$work"
    fi
    exit "$status"
}
trap cleanup EXIT

# munge: a key if there is none, and our own munged on our own socket
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    chown munge:munge /etc/munge/munge.key 2>/dev/null || true
    chmod 400 /etc/munge/munge.key
fi
sock="$work/munge.socket"
mkdir -p "$work/munge"
munged --foreground --force --socket="$sock" --pid-file="$work/munge/munged.pid" \
    --log-file="$work/munge/munged.log" --seed-file="$work/munge/munged.seed" >"$work/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
munge --socket="$sock" -n | unmunge --socket="$sock" >/dev/null

host=$(hostname -s)
mem=$(awk '/MemTotal/ {printf "%d", $2 / 1024 * 0.8}' /proc/meminfo)
mkdir -p "$work/state" "$work/spool"
export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=plresci
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket=$sock
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SchedulerType=sched/backfill
MpiDefault=none
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
KillWait=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
slurmctld -D -f "$SLURM_CONF" >"$work/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >"$work/slurmd.out" 2>&1 &
pids+=($!)
for i in $(seq 60); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n1 || true)
    [ "$state" = idle ] && break
    [ "$i" = 60 ] && { echo "the node did not become idle (state: $state)" >&2; exit 1; }
    sleep 0.5
done
say "one-node cluster up ($(sinfo --version)): $(sinfo -h -o '%P %D %T %c CPUs')"

# Waits until job $1 has left the queue, at most $2 seconds.
wait_job() {
    local job=$1 limit=$2 start
    start=$(date +%s)
    while [ -n "$(squeue -h -j "$job" 2>/dev/null)" ]; do
        if [ $(( $(date +%s) - start )) -ge "$limit" ]; then
            echo "job $job still queued after ${limit}s:" >&2; squeue -j "$job" >&2; exit 1
        fi
        sleep 0.5
    done
}

# 1. six seeds of rff-bound on Slurm, and the same sweep by the local pool
cat >"$work/rff.toml" <<EOF
name = "rff-seeds"
out = "rff"
experiment = "rff-bound"
size = "smoke"
[grid]
seeds = 6
[slurm]
time = "00:05:00"
cpus_per_task = 1
max_parallel = $(nproc)
EOF
"$xtask" sweep plan "$work/rff.toml" | tail -n 2
job=$("$xtask" sweep submit "$work/rff.toml")
say "submitted array job $job"
wait_job "$job" 150
say "array job $job left the queue"
"$xtask" sweep status "$work/rff" | tail -n 2
"$xtask" sweep collect "$work/rff"
grep -q '^\*\*Complete: all 6 tasks done.\*\*$' "$work/rff/REPORT.md"
grep -q '^| `lambda_min_k` | 6 | ' "$work/rff/REPORT.md"
grep -Eq '6 of 6 seeds done; diverged: none; checks: [0-9]+ of [0-9]+ hold, [0-9]+ vacuous, 0 fail' "$work/rff/REPORT.md"
"$xtask" sweep run "$work/rff.toml" --local --jobs "$(nproc)" --out "$work/rff-local" 2>/dev/null
"$xtask" sweep collect "$work/rff-local"
for f in REPORT.md aggregate.json aggregate.csv; do
    cmp "$work/rff/$f" "$work/rff-local/$f"
done
say "Slurm and local pool give the same report"

# 2. cancel task 1 of a slower sweep mid-run; resubmit; exactly it reruns
cat >"$work/slow.toml" <<EOF
name = "rff-slow"
out = "slow"
experiment = "rff-bound"
size = "smoke"
[set]
draws = 3000
[grid]
seeds = 3
[slurm]
time = "00:05:00"
max_parallel = 1
EOF
job=$("$xtask" sweep submit "$work/slow.toml")
say "submitted array job $job (one task at a time)"
if "$xtask" sweep submit "$work/slow.toml" 2>"$work/twice.err"; then
    echo "a sweep with tasks in the queue was submitted twice" >&2; exit 1
fi
grep -q "job $job still has .* task(s) of this sweep queued or running" "$work/twice.err"
for i in $(seq 240); do
    [ -f "$work/slow/tasks/seed-1/attempt.json" ] && break
    [ "$i" = 240 ] && { echo "task 1 never started" >&2; exit 1; }
    sleep 0.25
done
sleep 0.5
[ ! -f "$work/slow/tasks/seed-1/done.json" ] || { echo "task 1 finished before it could be cancelled" >&2; exit 1; }
scancel "${job}_1"
say "cancelled ${job}_1 mid-run"
wait_job "$job" 150
"$xtask" sweep status "$work/slow" | tail -n 6
if "$xtask" sweep collect "$work/slow" 2>"$work/collect.err"; then
    echo "collect called an incomplete sweep complete" >&2; exit 1
fi
grep -q 'INCOMPLETE: 2 of 3 tasks done; not done: seed-1 (' "$work/collect.err"
job2=$("$xtask" sweep submit "$work/slow.toml")
grep -q '^#SBATCH --array=1%1$' "$work/slow/slurm/array-2.sbatch"
say "resubmitted exactly task 1 as job $job2"
wait_job "$job2" 150
"$xtask" sweep collect "$work/slow"
grep -q '"attempt": 2' "$work/slow/tasks/seed-1/done.json"
for s in 0 2; do grep -q '"attempt": 1' "$work/slow/tasks/seed-$s/done.json"; done
grep -q '^| `lambda_min_k` | 3 | ' "$work/slow/REPORT.md"
grep -q '3 of 3 seeds done' "$work/slow/REPORT.md"
if "$xtask" sweep submit "$work/slow.toml" 2>&1 | grep -q 'nothing to submit'; then :; else
    echo "a complete sweep was submitted again" >&2; exit 1
fi
say "the cancelled task reran once (attempt 2) and was counted once; slurm test passed"
