# The small sweep the end-to-end and Slurm tests share: a base config on the
# built-in synthetic task (~1 ms per step) and a job file of 2 x 2 runs.
# write_small_job DIR STEPS [RANKS_PER_RUN]
write_small_job() {
  local dir=$1 steps=$2 rpr=${3:-1}
  cat > "$dir/base.ini" <<EOT
[model]
variant = v1
num_input = 32
num_output = 4
num_memory = 10
memory_tau_max = 150
[task]
name = synthetic_burst
[train]
steps = $steps
batch_size = 16
threads = 1
log_every = 10
eval_every = 100000
[optim]
lr = 0.005
EOT
  cat > "$dir/job.ini" <<EOT
[sweep]
name = small
config = base.ini
ranks_per_run = $rpr
[grid]
model.num_memory = 4,12
model.memory_tau_max = 20,200
EOT
}
