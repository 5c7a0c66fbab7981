#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for CI and for trying `cadre launch slurm`:
# installs slurm-wlm and munge if missing, writes /etc/slurm/slurm.conf for this host (its real
# CPUs and memory, one partition `debug`), starts munged, slurmctld and slurmd as plain daemons
# (no systemd, no cgroups) and waits until the node is idle. Run as root (or with sudo).
# Idempotent: running it again changes nothing when the cluster is up and its config current.
# A slurm.conf not written by this script is never replaced: if that cluster answers it is used,
# otherwise the script stops with an error.
set -euo pipefail

conf=/etc/slurm/slurm.conf
marker="# Written by cadre ci/slurm-single-node.sh"
timeout_s="${SLURM_START_TIMEOUT_S:-60}"

say() { echo "slurm-single-node: $*"; }
fail() { echo "slurm-single-node: error: $*" >&2; exit 1; }

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)

# --- packages --------------------------------------------------------------------------------
missing=()
for package in slurm-wlm munge; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  # policy-rc.d or a missing systemd may refuse to start the services: this script starts them.
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# The rest runs as root: re-run this script under sudo when needed.
if [ "$(id -u)" -ne 0 ]; then exec sudo --preserve-env=SLURM_START_TIMEOUT_S "$0" "$@"; fi

cluster_answers() { timeout 10 sinfo -h >/dev/null 2>&1; }

if [ -e "$conf" ] && ! grep -qxF "$marker" "$conf"; then
  if cluster_answers; then
    say "$conf was not written by this script; using the cluster it describes"
    sinfo
    exit 0
  fi
  fail "$conf exists, was not written by this script and its cluster does not answer; move it away to let this script make a single-node cluster"
fi

# --- munge -------------------------------------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  say "making a munge key"
  install -d -o munge -g munge -m 0700 /etc/munge
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown munge:munge /etc/munge/munge.key
chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged  # forks into the background once ready
  munge -n | unmunge >/dev/null || fail "munged does not answer (see /var/log/munge/munged.log)"
fi

# --- slurm.conf ----------------------------------------------------------------------------------
node="$(hostname -s)"
# "NodeName=host CPUs=.. Boards=.. SocketsPerBoard=.. CoresPerSocket=.. ThreadsPerCore=..
# RealMemory=..": what slurmd finds on this machine, so the node never registers as invalid.
hardware="$(/usr/sbin/slurmd -C | grep '^NodeName=')" || fail "slurmd -C could not describe this machine"
new_conf="$(cat <<EOF
$marker
# A single-node cluster: this host is controller and compute node.
ClusterName=cadre-ci
SlurmctldHost=$node(127.0.0.1)
SlurmUser=root
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
AuthType=auth/munge
MpiDefault=none
SwitchType=switch/none
# No cgroups (containers and VMs often lack them): plain process tracking, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1024
# Keep ended jobs visible to scontrol for 10 minutes (there is no accounting database).
MinJobAge=600
# A node that was down comes back as soon as its slurmd registers.
ReturnToService=2
KillWait=5
SlurmdTimeout=60
InactiveLimit=0
$hardware NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
)"

changed=0
if [ ! -e "$conf" ] || [ "$(cat "$conf")" != "$new_conf" ]; then
  say "writing $conf"
  install -d -m 0755 /etc/slurm
  printf '%s\n' "$new_conf" > "$conf"
  chmod 0644 "$conf"
  changed=1
fi
install -d -m 0755 /var/spool/slurmctld /var/spool/slurmd /var/log/slurm

# --- daemons -----------------------------------------------------------------------------------
# The pid in FILE if that process is alive and is PROGRAM.
running_pid() {
  local file="$1" program="$2" pid
  [ -s "$file" ] || return 1
  pid="$(cat "$file")"
  [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$program" ] || return 1
  echo "$pid"
}

stop_daemon() {
  local pid
  pid="$(running_pid "$1" "$2")" || return 0
  say "stopping $2 (pid $pid): its config changed"
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  fail "$2 (pid $pid) did not stop"
}

if [ "$changed" -eq 1 ]; then
  stop_daemon /run/slurmd.pid slurmd
  stop_daemon /run/slurmctld.pid slurmctld
fi
if ! running_pid /run/slurmctld.pid slurmctld >/dev/null; then
  say "starting slurmctld"
  /usr/sbin/slurmctld || fail "slurmctld did not start (see /var/log/slurm/slurmctld.log)"
fi
if ! running_pid /run/slurmd.pid slurmd >/dev/null; then
  say "starting slurmd"
  /usr/sbin/slurmd || fail "slurmd did not start (see /var/log/slurm/slurmd.log)"
fi

# --- wait for the node ---------------------------------------------------------------------------
deadline=$((SECONDS + timeout_s))
state=""
while :; do
  state="$(timeout 10 sinfo -h -n "$node" -o %T 2>/dev/null | head -n1 || true)"
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    drained|draining|drain|down*)
      # Left over from an earlier run (e.g. the machine rebooted under a job): put it back.
      timeout 10 scontrol update NodeName="$node" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  if [ "$SECONDS" -ge "$deadline" ]; then
    sinfo -N -l 2>&1 || true
    fail "node $node is not up after ${timeout_s} s (state '${state:-no answer}'; see /var/log/slurm/slurmctld.log and slurmd.log)"
  fi
  sleep 1
done
say "node $node is $state"
sinfo -N -o "%N %P %T %c %m"
