#!/usr/bin/env bash
# The README's main job: converts Debian's Fashion-MNIST once, runs the
# quickstart sweep (jobs/quickstart.ini: memory sizes x memory timescales on
# sequential Fashion-MNIST) on 2 MPI ranks, prints the summary table and
# writes the report. Extra arguments go to `elmrun sweep` (e.g. --set ...).
#   QUICKSTART_OUT  sweep directory     (default runs/quickstart)
#   ELM_DATA_DIR    where stores live   (default data)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${QUICKSTART_OUT:-runs/quickstart}
data=${ELM_DATA_DIR:-data}
[ -f "$data/fmnist/test.h5" ] || build/elmrun prep fmnist --out "$data/fmnist"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
mpirun -n 2 --oversubscribe build/elmrun sweep jobs/quickstart.ini --out "$out" --set task.store="$data/fmnist" "$@"
if [ -f analysis/report.py ]; then
  /usr/bin/python3 analysis/report.py "$out" --out "$out/report"
fi
