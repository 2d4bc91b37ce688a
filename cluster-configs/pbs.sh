#!/bin/bash
# PBS Pro / Torque batch script for the Monte Carlo example. Submit from the
# repo root (after scripts/setup.sh has built it):  qsub cluster-configs/pbs.sh
#
# Every MPI process is one rank. One of them (rank 0) is the root that runs
# the executor and does not run calls, so 2 x 32 ranks = 63 workers.
# Sizes and walltime: qsub options override these lines, e.g.
#   qsub -l select=1:ncpus=4:mpiprocs=4 -l walltime=00:05:00 cluster-configs/pbs.sh
#PBS -N rankpool-montecarlo
#PBS -l select=2:ncpus=32:mpiprocs=32
# Torque has no select=; use this instead of the line above:
# #PBS -l nodes=2:ppn=32
#PBS -l walltime=00:30:00
#PBS -j oe
#PBS -S /bin/bash
set -euo pipefail

# What runs, overridable from the environment, which qsub passes on with -v
# (or -V): qsub -v RANKPOOL_PROGRAM=./my-app,RANKPOOL_ARGS="64 100000" ...
# 1024 tasks of 10^7 darts take about 6 s on 63 workers.
program="${RANKPOOL_PROGRAM:-./build/apps/rankpool-montecarlo}"
read -r -a args <<<"${RANKPOOL_ARGS:-1024 10000000}"

# Load the same compiler/MPI/Boost you built with; names vary per site:
# module load gcc openmpi boost

# PBS starts jobs in $HOME; go back to where qsub was run.
cd "$PBS_O_WORKDIR"

# $PBS_NODEFILE has one line per rank slot (mpiprocs / ppn per host), so it
# doubles as the hostfile and its length is the rank count. Passing it
# explicitly also works with an Open MPI built without PBS (tm) support.
mpirun -n "$(wc -l <"$PBS_NODEFILE")" --hostfile "$PBS_NODEFILE" \
  "$program" "${args[@]}"
