#!/bin/sh
# lz job wrapper: job.sh META_DIR ARGV...
#
# Runs ARGV in the current directory with its output in META_DIR, then records the exit status in
# META_DIR/exit through a temporary name and a rename, so a reader sees nothing or the whole
# number. The same script runs detached by the local executor and as the SLURM batch script (where
# ARGV starts with srun), so a job outlives the daemon and its end is always found on disk.
set -u
meta=$1
shift
# pid and kernel start time (field 22 of /proc/PID/stat): lets a restarted daemon adopt us.
if [ -r /proc/$$/stat ]; then
    printf '%s %s\n' "$$" "$(cut -d' ' -f22 /proc/$$/stat)" >"$meta/pid.tmp.$$" && mv -f "$meta/pid.tmp.$$" "$meta/pid"
fi
# the exit file's bytes are taken now, rewritten in place later (1<> does not truncate): a job that
# fills the disk must still be able to record how it ended
printf '%20s\n' '' >"$meta/exit.tmp.$$"
# SIGTERM is for the job (lz stop, scancel --signal=TERM --full reaches this script too): the
# wrapper outlives it, waits for the job to end as it chooses and records its exit status. A
# trap (not an ignore, which the job would inherit) runs once the job has ended.
trap ':' TERM
"$@" >"$meta/stdout" 2>"$meta/stderr" </dev/null
rc=$?
printf '%-20d' "$rc" 1<>"$meta/exit.tmp.$$" && mv -f "$meta/exit.tmp.$$" "$meta/exit"
exit "$rc"
