#!/bin/sh
# lz task shim: task-env.sh ARGV...   (one copy a task, started by srun in a job of several tasks)
#
# A container starts with a clean environment (apptainer --cleanenv, ch-run --unset-env=*), so a
# task's rank and its MPI's wire-up (SLURM_PROCID, PMI_FD, PMIX_*...) would not reach it. The first
# word @LZ_TASK_ENV@ of ARGV (inside the container, an argument of `env`) becomes this task's
# NAME=VALUE words: argv words that no shell evaluates. Names are checked before `eval` reads them.
set -u
done_=""
for arg do
    shift
    if [ -z "$done_" ] && [ "$arg" = "@LZ_TASK_ENV@" ]; then
        done_=1
        for name in $(env | sed -n -E 's/^((SLURM|SLURMD|PMI|PMIX|OMPI|MPIR)_[A-Za-z0-9_]*)=.*/\1/p' | sort -u); do
            eval "set -- \"\$@\" \"\$name=\${$name}\""
        done
    else
        set -- "$@" "$arg"
    fi
done
exec "$@"
