#!/usr/bin/env bash
# ci-slurm.sh: a real single-node Slurm on loopback (Debian's slurmctld, slurmd, slurm-client and
# munge; no systemd, no cgroups), a small sweep submitted with `moescope slurm submit` as one job
# array, and a check that the merged results equal the same sweep run locally. Stops exactly the
# daemons it started, also on failure. Must run as root (CI does).
#
#   scripts/ci-slurm.sh [path/to/moescope]     (default: target/debug/moescope)
set -euo pipefail

BIN=$(realpath "${1:-target/debug/moescope}")
D=$(mktemp -d /tmp/moescope-slurm.XXXXXX)
CONF=$D/etc/slurm.conf
PORT_CTLD=${SLURM_CI_CTLD_PORT:-16817}
PORT_SLURMD=${SLURM_CI_SLURMD_PORT:-16818}
log() { echo "[ci-slurm $(date +%T)] $*" >&2; }
fail() {
  log "FAILED: $*"
  for f in "$D"/log/*.log "$D"/sweep/slurm/*.out; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
[ -x "$BIN" ] || fail "no moescope binary at $BIN (build it first: cargo build)"
[ "$(id -u)" = 0 ] || fail "must run as root (it installs packages and starts daemons)"

# Alive = the pid names a running process with the expected command (zombies excluded: PID 1 here
# reaps slowly, so a stopped daemon can linger as Z for a moment).
alive() {
  local pid=$1 comm=$2 st
  [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  st=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  st=${st##*) }; [ "${st%% *}" != Z ]
}
pid_of() { cat "$D/run/$1.pid" 2>/dev/null || true; }

# Stop what we started, newest first; pids are read before signalling because slurmctld and
# slurmd delete their own pid files on exit.
stop() {
  set +e
  export SLURM_CONF=$CONF
  if alive "$(pid_of slurmctld)" slurmctld; then
    jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
    [ -n "$jobs" ] && timeout 10 scancel $jobs 2>/dev/null
  fi
  for d in slurmd slurmctld munged; do
    pid=$(pid_of "$d")
    alive "$pid" "$d" || continue
    kill -TERM "$pid"
    for _ in $(seq 100); do alive "$pid" "$d" || break; sleep 0.1; done
    alive "$pid" "$d" && kill -KILL "$pid"
    log "stopped $d ($pid)"
  done
}
trap stop EXIT

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sbatch >/dev/null \
   || ! command -v munged >/dev/null; then
  log "installing slurmctld slurmd slurm-client munge"
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then   # keep the packages' scripts from starting daemons
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    slurmctld slurmd slurm-client munge >/dev/null
  [ $made_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
fi

mkdir -p "$D"/{etc,state,spool,log,munge,run}
chmod 755 "$D/munge"
# A private munged (its own key and socket), so a system munge, if any, is left alone.
head -c 1024 /dev/urandom > "$D/munge/munge.key"; chmod 600 "$D/munge/munge.key"
munged --force -S "$D/munge/sock" --key-file="$D/munge/munge.key" --pid-file="$D/run/munged.pid" \
  --log-file="$D/log/munged.log" --seed-file="$D/munge/seed"

# "localhost" is special-cased by Slurm, so no DNS or /etc/hosts entry is needed; linuxproc and
# task/none avoid cgroups; config_overrides lets the node advertise what we say.
cat > "$CONF" <<CONF
ClusterName=moescopeci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$PORT_CTLD
SlurmdPort=$PORT_SLURMD
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$D/munge/sock
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerParameters=batch_sched_delay=0
SlurmdParameters=config_overrides
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$(nproc) RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$CONF
slurmctld -i
slurmd -N localhost
for i in $(seq 240); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  case $state in idle|mixed|allocated) break;; drain*|down*|fail*) fail "node state $state";; esac
  [ "$i" = 240 ] && fail "slurm not ready after 60 s (state '${state:-?}')"
  sleep 0.25
done
log "slurm up (node $state)"

# The sweep: 4 cells, submitted as an array of 4 tasks, at most 2 at once.
AXES=(experts=2,4 train.lr=0.01,0.02 seeds=2 "routing=[dense, top2, soft]")
"$BIN" sweep init configs/test/tiny.yaml "${AXES[@]}" --out "$D/sweep" >/dev/null
job=$("$BIN" slurm submit "$D/sweep" --array-parallel 2)
log "submitted array job $job"
for i in $(seq 1200); do
  [ -z "$(squeue -h -j "$job" 2>/dev/null)" ] && break
  [ "$i" = 1200 ] && fail "array $job still queued or running after 300 s"
  sleep 0.25
done
not_ok=$(scontrol -o show job "$job" | grep -vc "JobState=COMPLETED" || true)
[ "$not_ok" = 0 ] || fail "$not_ok array tasks did not complete: $(scontrol -o show job "$job" | grep -o 'JobState=[A-Z]*' | sort | uniq -c)"
tasks=$(scontrol -o show job "$job" | wc -l)
[ "$tasks" = 4 ] || fail "expected 4 array tasks, Slurm ran $tasks"
"$BIN" sweep status "$D/sweep" | tail -n 1 | grep -q "4 cells: 4 done" || fail "not every cell is done: $("$BIN" sweep status "$D/sweep")"
"$BIN" sweep collect "$D/sweep" >/dev/null 2>&1 || fail "collect failed"

# The same sweep run locally must give the same cells and the same numbers.
"$BIN" sweep run configs/test/tiny.yaml "${AXES[@]}" --out "$D/local" --jobs 2 >/dev/null 2>&1 || fail "local sweep failed"
for f in metrics.csv summary.csv claims.csv; do
  cmp -s "$D/sweep/collected/$f" "$D/local/collected/$f" || fail "collected/$f differs between Slurm and local runs"
done
[ "$(ls "$D/sweep/cells")" = "$(ls "$D/local/cells")" ] || fail "different cell folders"
log "OK: $tasks array tasks, 4 cells, merged results identical to a local run"
stop
trap - EXIT
rm -rf "$D"
