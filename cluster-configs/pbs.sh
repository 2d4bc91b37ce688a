#!/bin/bash
# PBS Pro / Torque batch script for the Monte Carlo example. Submit from the
# repo root (after scripts/setup.sh has built it):  qsub cluster-configs/pbs.sh
#
# Every MPI process is one rank. One of them (rank 0) is the root that runs
# the executor and does not run calls, so 2 x 32 ranks = 63 workers.
#PBS -N rankpool-montecarlo
#PBS -l select=2:ncpus=32:mpiprocs=32
# Torque has no select=; use this instead of the line above:
# #PBS -l nodes=2:ppn=32
#PBS -l walltime=01:00:00
#PBS -j oe
#PBS -S /bin/bash
set -euo pipefail

# Load the same compiler/MPI/Boost you built with; names vary per site:
# module load gcc openmpi boost

# PBS starts jobs in $HOME; go back to where qsub was run.
cd "$PBS_O_WORKDIR"

# $PBS_NODEFILE has one line per rank slot (mpiprocs / ppn per host), so it
# doubles as the hostfile and its length is the rank count. Passing it
# explicitly also works with an Open MPI built without PBS (tm) support.
mpirun -n "$(wc -l <"$PBS_NODEFILE")" --hostfile "$PBS_NODEFILE" \
  ./build/apps/rankpool-montecarlo 4096 10000000
