#!/usr/bin/env bash
# Re-records the captured Slurm output in this folder from the single-node dev cluster
# (scripts/slurm-dev-cluster up). Takes about 2 minutes (one job must reach its time limit).
# Job names start with "lzcap-" so nothing here is mistaken for a landing zone's own job.
# The outage captures stop and restart slurmctld: do not run this while others use the cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=$(mktemp -d /tmp/lzcap.XXXXXX)
wrapper=$root/lz/wrapper/job.sh
user=$(id -un)
fields='JobArrayID:|,State:|,Reason:|,Exit_Code:|,Name:'
cpus=$(sinfo -h -o %c | head -n1)

submit() {  # submit NAME [sbatch options...] -- ARGV...: a job shaped like SlurmExecutor's
    local name=$1; shift
    local opts=()
    while [[ $1 != -- ]]; do opts+=("$1"); shift; done
    shift
    mkdir -p "$work/$name/work" "$work/$name/lz"
    sbatch --parsable --job-name="$name" --chdir="$work/$name/work" \
        --output="$work/$name/lz/slurm.out" --error="$work/$name/lz/slurm.out" --ntasks=1 --export=NONE \
        "${opts[@]}" "$wrapper" "$work/$name/lz" srun --ntasks=1 --export=ALL -- "$@"
}
state() { squeue -h --states=all -j "$1" -o %T 2>/dev/null || true; }
wait_state() {  # wait_state ID STATE...
    local id=$1; shift
    for _ in $(seq 150); do
        local s; s=$(state "$id")
        for want in "$@"; do [[ $s == "$want" ]] && return 0; done
        sleep 1
    done
    echo "job $id never reached $*" >&2; return 1
}

holder=$(submit lzcap-holder --cpus-per-task="$cpus" -- sleep 40)
wait_state "$holder" RUNNING
sleep 6  # let jobacct_gather sample the step
sstat --parsable2 --noheader --allsteps --format=JobID,MaxRSS,AveCPU,NTasks -j "$holder" \
    >"$here/sstat-steps.txt" 2>"$here/sstat-steps.stderr" || true
pending=$(submit lzcap-pending -- true)
to_cancel=$(submit lzcap-cancel-pending -- true)
sleep 2
scancel "$to_cancel"
scontrol --oneliner show job "$pending" >"$here/scontrol-pending.txt" 2>&1 || true
# sstat on a job with no running step: what it says on stderr, and its exit status
{ sstat --parsable2 --noheader --allsteps --format=JobID,MaxRSS,AveCPU,NTasks -j "$pending,$holder" \
    >"$here/sstat-mixed.txt" 2>"$here/sstat-mixed.stderr"; echo $? >"$here/sstat-mixed.rc"; } || true
scancel "$holder"
wait_state "$pending" COMPLETED
ok=$(submit lzcap-ok -- true)
failed=$(submit lzcap-failed -- sh -c 'exit 3')
weird=$(submit $'lzcap-odd name|with "quotes" $(x)\nand a newline' -- true)
timeout=$(submit lzcap-timeout --time=1 -- sleep 300)
running=$(submit lzcap-cancel-running -- sleep 300)
wait_state "$running" RUNNING
sleep 2
scancel "$running"
wait_state "$timeout" TIMEOUT
wait_state "$failed" FAILED
wait_state "$weird" COMPLETED
squeue --noheader --states=all --user="$user" -O "$fields" | grep -a -A1 '|lzcap-' | grep -av '^--$' >"$here/squeue-ended.txt"
scontrol --oneliner show job "$failed" >"$here/scontrol-failed.txt"
scontrol --oneliner show job "$timeout" >"$here/scontrol-timeout.txt"
scontrol --oneliner show job "$running" >"$here/scontrol-cancelled.txt"
{ scontrol --oneliner show job 999999999 >"$here/scontrol-unknown.stdout" 2>"$here/scontrol-unknown.stderr";
  echo $? >"$here/scontrol-unknown.rc"; } || true
{ scancel "$ok" 999999999 >"$here/scancel-finished.stdout" 2>"$here/scancel-finished.stderr";
  echo $? >"$here/scancel-finished.rc"; } || true
refusal() {  # refusal NAME SBATCH-OPTION: what sbatch says; an id means it accepted (cancelled at once)
    { sbatch --parsable --job-name=lzcap-refusal "$2" --wrap true >"$here/sbatch-$1.stdout" 2>"$here/sbatch-$1.stderr";
      echo $? >"$here/sbatch-$1.rc"; } || true
    if [[ -s $here/sbatch-$1.stdout ]]; then scancel "$(cut -d';' -f1 "$here/sbatch-$1.stdout")"; fi
}
refusal bad-partition --partition=nope
refusal too-much-memory --mem=10T
refusal bad-gres --gres=gpu:1
refusal bad-feature --constraint=nope
refusal bad-time --time=bogus
refusal too-many-cpus --cpus-per-task=$((cpus * 64))  # accepted: pends with Reason=PartitionConfig
refusal bad-qos --qos=nope                            # accepted: no accounting database checks it
refusal bad-account --account=nope                    # accepted, likewise

if [[ ${LZCAP_OUTAGE:-1} == 1 ]]; then
    "$root/scripts/slurm-dev-cluster" stop-controller
    trap '"$root/scripts/slurm-dev-cluster" start-controller' EXIT
    { squeue --noheader --states=all --user="$user" -O "$fields" \
        >"$here/squeue-controller-down.stdout" 2>"$here/squeue-controller-down.stderr"; echo $? >"$here/squeue-controller-down.rc"; } || true
    { sbatch --parsable --wrap true >"$here/sbatch-controller-down.stdout" 2>"$here/sbatch-controller-down.stderr";
      echo $? >"$here/sbatch-controller-down.rc"; } || true
    { scancel 1 >"$here/scancel-controller-down.stdout" 2>"$here/scancel-controller-down.stderr";
      echo $? >"$here/scancel-controller-down.rc"; } || true
fi
rm -rf "$work"
echo "captured into $here"
