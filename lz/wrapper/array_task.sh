#!/bin/sh
# lz array task wrapper: array_task.sh JOB_SH META_DIR ARGV...
#
# One task of a sweep (lz.core.array), in the job's shared work directory (the current one): its
# index is $LZ_ARRAY_INDEX (the local executor's runner sets it) or $SLURM_ARRAY_TASK_ID (sbatch
# --array). The task's outputs belong in task-<i>/ ($LZ_TASK_DIR, made here, relative to the work
# directory); its own META_DIR/task-<i>/ holds its pid, exit status and logs through job.sh, whose
# stdout and stderr are then copied into task-<i>/ so each task's results carry its logs. The
# container runtimes drop the host's environment: APPTAINERENV_* reaches inside Apptainer.
set -u
jobsh=$1
meta=$2
shift 2
i=${LZ_ARRAY_INDEX:-${SLURM_ARRAY_TASK_ID:-}}
case $i in
    ''|*[!0-9]*) echo "lz: array task without an index (LZ_ARRAY_INDEX or SLURM_ARRAY_TASK_ID)" >&2; exit 2 ;;
esac
dir=task-$i
mkdir -p "$meta/$dir" "$dir"
export LZ_ARRAY_INDEX="$i" LZ_TASK_DIR="$dir"
export APPTAINERENV_LZ_ARRAY_INDEX="$i" APPTAINERENV_LZ_TASK_DIR="$dir"
export SINGULARITYENV_LZ_ARRAY_INDEX="$i" SINGULARITYENV_LZ_TASK_DIR="$dir"
/bin/sh "$jobsh" "$meta/$dir" "$@"
rc=$?
cp "$meta/$dir/stdout" "$dir/stdout" 2>/dev/null
cp "$meta/$dir/stderr" "$dir/stderr" 2>/dev/null
exit "$rc"
