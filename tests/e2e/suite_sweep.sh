#!/usr/bin/env bash
# elmrun sweep SUITE.ini: a suite of two small jobs (4 + 2 runs). --list writes
# every manifest and SUITE_DIR/suite.tsv; a run trains each job into
# SUITE_DIR/<sweep name>/ (default runs/<suite name>); a rerun trains nothing;
# --only trains one job (the other is left alone); under mpirun 2 ranks share
# the suite; bad --only, --run-index without --only, --only on a plain job and
# a job whose store is absent are one-line errors before anything is written.
source "$(dirname "$0")/lib.sh"
cd "$scratch"
write_small_job "$scratch" 20
sed 's/^name = small$/name = seeds/; s/^model.num_memory = 4,12$/train.seed = 1,2/; /^model.memory_tau_max/d' \
  job.ini > seeds.ini
printf '[suite]\nname = pair   ; two jobs\njobs = job.ini, seeds.ini\n' > suite.ini

# Nothing is written while one job cannot run: its problem is named, with its file.
printf '[sweep]\nconfig = base.ini\n[set]\ntask.name = listops\ntask.store = data/absent\n' > nodata.ini
printf '[suite]\njobs = job.ini, nodata.ini\n' > bad_suite.ini
if "$ELMRUN" sweep bad_suite.ini --list > bad.out 2>&1; then fail "a suite with a job without data was accepted"; fi
grep -q "nodata.ini: .*data/absent" bad.out || fail "the missing store is not named: $(cat bad.out)"
[ ! -e runs ] || fail "a refused suite wrote $(find runs)"

for args in "--only nope" "--run-index 0" ; do
  if "$ELMRUN" sweep suite.ini $args > err.out 2>&1; then fail "sweep suite.ini $args was accepted"; fi
  [ "$(wc -l < err.out)" -eq 1 ] || fail "$args: not one line: $(cat err.out)"
done
grep -q "jobs: small, seeds" err.out || fail "--run-index error does not list the jobs: $(cat err.out)"
if "$ELMRUN" sweep job.ini --only small > err.out 2>&1; then fail "--only on a sweep job was accepted"; fi
[ ! -e runs ] || fail "a refused command wrote $(find runs)"

# --list: both manifests and the suite record, nothing trained.
"$ELMRUN" sweep suite.ini --list > list.out 2>&1 || fail "--list failed: $(cat list.out)"
grep -q "== suite pair: sweep small (1/2) in runs/pair/small" list.out || fail "no header for small: $(cat list.out)"
grep -q "== suite pair: sweep seeds (2/2) in runs/pair/seeds" list.out || fail "no header for seeds"
[ "$(tail -n +2 runs/pair/small/manifest.tsv | wc -l)" -eq 4 ] || fail "small manifest"
[ "$(tail -n +2 runs/pair/seeds/manifest.tsv | wc -l)" -eq 2 ] || fail "seeds manifest"
[ "$(cut -f1,2 runs/pair/suite.tsv | tr '\t' ' ' | tr '\n' '|')" = "sweep job_file|small $scratch/job.ini|seeds $scratch/seeds.ini|" ] ||
  fail "suite.tsv: $(cat runs/pair/suite.tsv)"
[ -z "$(ls runs/pair/small/runs/*/DONE 2>/dev/null)" ] || fail "--list trained runs"

# --only seeds: that job only.
"$ELMRUN" sweep suite.ini --only seeds > only.out 2>&1 || fail "--only seeds failed: $(cat only.out)"
[ "$(done_rows runs/pair/seeds/summary.csv)" -eq 2 ] || fail "seeds not done: $(cat only.out)"
[ -z "$(ls runs/pair/small/runs/*/DONE 2>/dev/null)" ] || fail "--only seeds trained small's runs"
grep -q "sweep small" only.out && fail "--only seeds ran small"

# The whole suite on 2 ranks: small's 4 runs; seeds' are already done and stay untouched.
stamp=$(stat -c %Y runs/pair/seeds/runs/*/results.h5 | sort | tr '\n' ' ')
mpirun -n 2 "$ELMRUN" sweep suite.ini > all.out 2>&1 || fail "suite on 2 ranks failed: $(cat all.out)"
[ "$(done_rows runs/pair/small/summary.csv)" -eq 4 ] || fail "small not done: $(cat all.out)"
[ "$(stat -c %Y runs/pair/seeds/runs/*/results.h5 | sort | tr '\n' ' ')" = "$stamp" ] || fail "seeds' runs were retrained"

# A rerun trains nothing: no run log grows.
sizes=$(wc -c runs/pair/*/runs/*/log.txt)
"$ELMRUN" sweep suite.ini --out runs/pair > again.out 2>&1 || fail "rerun failed: $(cat again.out)"
[ "$(wc -c runs/pair/*/runs/*/log.txt)" = "$sizes" ] || fail "the rerun trained: $(cat again.out)"
grep -q "4/4 runs done" again.out && grep -q "2/2 runs done" again.out || fail "rerun summary: $(cat again.out)"

# --out moves the suite directory.
"$ELMRUN" sweep suite.ini --only small --out elsewhere --list > /dev/null 2>&1 || fail "--out with --list"
[ -f elsewhere/small/manifest.tsv ] && [ -f elsewhere/suite.tsv ] && [ ! -e elsewhere/seeds ] || fail "--out layout: $(find elsewhere)"
echo "suite_sweep: ok"
