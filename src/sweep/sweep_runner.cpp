#include "sweep/sweep_runner.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>
#include <ostream>

#include "core/duration_text.hpp"
#include "core/error.hpp"
#include "core/number_text.hpp"
#include "core/stop_request.hpp"
#include "core/test_hold.hpp"
#include "io/hdf5_io.hpp"
#include "sweep/pack_plan.hpp"
#include "sweep/sweep_dir.hpp"
#include "train/pack_trainer.hpp"
#include "train/run_lock.hpp"
#include "train/run_status.hpp"
#include "train/train_state.hpp"

namespace fs = std::filesystem;

namespace elm {

namespace {

// A process on a lost host keeps its run's lock for kStaleSeconds, since its
// heartbeat cannot tell a dead host from a slow file system sooner. So a run
// locked from another host is watched: a heartbeat that moves is a live
// holder (its own job finishes the run: skip it); one that stays still is
// waited for until the lock is stale, then the run is taken over, so a job
// requeued off a failed node finishes the run that node held. A holder on
// this host needs no watching: its flock says whether it lives.
constexpr double kSilentHolderSeconds = 4 * kHeartbeatSeconds;

std::optional<RunLock> acquire_run(const std::string& dir, std::string& holder, std::ostream& out,
                                   const std::string& who) {
  std::optional<double> first_beat;
  bool said = false;
  while (true) {
    if (auto lock = RunLock::try_acquire(dir, &holder)) return lock;
    if (holder.rfind(this_host() + ":", 0) == 0) return std::nullopt;
    const auto st = read_run_status(dir);
    if (!st || st->state != "running" || StopRequest::pending()) return std::nullopt;
    if (!first_beat) first_beat = st->updated;
    if (st->updated != *first_beat) return std::nullopt;  // it beats
    const double silent = seconds_since_epoch() - st->updated;
    if (silent >= kSilentHolderSeconds && !said) {
      out << who << ": its holder " << holder << " has been silent for " << duration_text(silent)
          << "; waiting until " << duration_text(kStaleSeconds) << " without a heartbeat to take the run over\n"
          << std::flush;
      said = true;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

std::string describe(const SweepJob& job, const SweepRun& run) {
  std::string s;
  for (size_t k = 0; k < job.axes.size(); ++k) s += " " + job.axes[k].key + "=" + run.axis_values[k];
  return s;
}

}  // namespace

SweepOutcome run_sweep(Comm& world, WorkCounter& counter, const std::string& sweep_dir, const SweepJob& job,
                       const std::vector<SweepRun>& runs, const SweepOptions& options, std::ostream& out,
                       const RunTrainer& trainer) {
  const int rpr = job.ranks_per_run;
  ELM_CHECK(world.size() % rpr == 0, job.path, ": sweep.ranks_per_run = ", rpr, " does not divide the ", world.size(),
            " ranks of the job");
  const int group_index = world.rank() / rpr;
  auto group = world.split(group_index, world.rank());
  const bool leader = group->rank() == 0;

  // World rank 0 decides what is unfinished, so every group works from one list.
  std::vector<int64_t> pending;
  int64_t skipped = 0;
  if (world.rank() == 0) {
    for (const auto& r : runs) {
      if (!options.only_indices.empty() &&
          std::find(options.only_indices.begin(), options.only_indices.end(), r.index) == options.only_indices.end())
        continue;
      const std::string dir = run_dir_of(sweep_dir, r);
      if (run_is_done(dir)) {
        ++skipped;
        tidy_completed_run(dir);
      } else {
        pending.push_back(r.index);
      }
    }
  }
  broadcast_vector(world, pending, 0);
  broadcast_value(world, skipped, 0);

  // A GPU group's device all-reduce, made once for all its runs (every rank
  // of the world sees the same list, so the groups agree on needing it).
  std::unique_ptr<DeviceComm> device_comm;
  const bool any_cuda = std::any_of(pending.begin(), pending.end(), [&](int64_t i) {
    return runs[size_t(i)].config.train.backend == "cuda";
  });
  if (any_cuda && options.device_comm_for_group) device_comm = options.device_comm_for_group(*group);

  // The work items: each pack's unfinished runs (one run per item unpacked).
  std::vector<std::vector<int64_t>> items;
  {
    std::vector<bool> is_pending(runs.size(), false);
    for (int64_t i : pending) is_pending[size_t(i)] = true;
    for (const Pack& p : plan_packs(runs, std::max(1, options.pack_size))) {
      std::vector<int64_t> todo;
      for (int64_t i : p.runs)
        if (is_pending[size_t(i)]) todo.push_back(i);
      if (!todo.empty()) items.push_back(std::move(todo));
    }
  }

  if (world.rank() == 0) {
    out << "sweep " << job.name << ": " << runs.size() << " runs, " << skipped << " already done, "
        << pending.size() << " to run";
    if (items.size() < pending.size()) out << " in " << items.size() << " pack(s) of up to " << options.pack_size;
    out << " on " << world.size() / rpr << " group(s) of " << rpr << " rank(s)\n" << std::flush;
  }

  // "k/N done, f failed" from the run directories, so every group's runs count.
  const auto sweep_start = std::chrono::steady_clock::now();
  auto sweep_progress = [&] {
    int64_t done = skipped, failed = 0;
    for (int64_t i : pending) {
      const std::string d = run_dir_of(sweep_dir, runs[size_t(i)]);
      if (run_is_done(d)) ++done;
      else if (!run_failure(d).empty()) ++failed;
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - sweep_start).count();
    out << "sweep " << job.name << ": " << done << "/" << skipped + int64_t(pending.size()) << " done, " << failed
        << " failed, elapsed " << duration_text(secs) << ", ETA "
        << duration_text(eta_seconds(secs, double(done - skipped + failed), double(pending.size()))) << "\n"
        << std::flush;
  };

  double tally[4] = {0, 0, 0, 0};  // completed, failed, interrupted, held by another job
  while (true) {
    // A stop between runs: no new run starts (the leader decides for its group).
    int64_t k = -1;
    if (leader && !StopRequest::pending()) k = counter.next();
    broadcast_value(*group, k, 0);
    if (k < 0) {
      tally[2] += leader;
      if (leader) out << "[group " << group_index << "] stop requested: no further run started\n" << std::flush;
      break;
    }
    if (k >= int64_t(items.size())) break;
    // One writer per run: another sweep (or array task) on the same directory
    // may hold a run, or may have finished it since the list was made.
    struct Member {
      const SweepRun* run;
      std::string dir, who;
      std::optional<RunLock> lock;
      std::ofstream log;
    };
    std::vector<Member> members;
    for (int64_t index : items[size_t(k)]) {
      const SweepRun& run = runs[size_t(index)];
      Member m{&run, run_dir_of(sweep_dir, run),
               "[group " + std::to_string(group_index) + "] run " + std::to_string(run.index) + " " + run.id, {}, {}};
      double verdict = 0;  // 0: ours, 1: held elsewhere, 2: done meanwhile
      if (leader) {
        std::string holder;
        m.lock = acquire_run(m.dir, holder, out, m.who);
        if (!m.lock) {
          verdict = 1;
          out << m.who << ": skipped, " << run_in_use_message(m.dir, holder) << "\n" << std::flush;
        } else if (run_is_done(m.dir)) {
          verdict = 2;
          m.lock.reset();
        }
      }
      broadcast_value(*group, verdict, 0);
      if (verdict == 1) tally[3] += leader;
      if (verdict != 0) continue;
      members.push_back(std::move(m));
    }
    if (members.empty()) continue;
    const std::string packed =
        members.size() > 1 ? " (packed with " + std::to_string(members.size() - 1) + " other run(s))" : "";
    for (Member& m : members)
      if (leader) {
        m.log.open(m.dir + "/log.txt", std::ios::app);
        const int64_t from = latest_checkpoint_step(m.dir);
        out << m.who << describe(job, *m.run)
            << (from > 0 ? ": resuming from step " + std::to_string(from) : std::string(": started")) << packed
            << "\n"
            << std::flush;
      }
    RunOptions ro;
    ro.comm = group.get();
    ro.stop_at_step = options.stop_at_step;
    ro.device = options.device;
    ro.device_comm = device_comm.get();
    ro.progress = leader ? &out : nullptr;
    ro.progress_seconds = options.progress_seconds;
    ro.collective_timeout_s = options.collective_timeout_s;
    // The work counter's one-sided requests need rank 0 to enter MPI now and
    // then (osc pt2pt/ucx over TCP): without it the other groups wait for its run.
    if (world.rank() == 0 && world.size() > 1) ro.each_step = [&world] { world.progress(); };
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<RunResult> results;
    if (members.size() == 1) {
      ro.log = leader ? &members[0].log : nullptr;
      ro.progress_label = members[0].who;
      results.push_back(trainer(members[0].run->config, members[0].dir, ro));
    } else {
      std::vector<PackRun> pack;
      for (Member& m : members) pack.push_back({&m.run->config, m.dir, leader ? &m.log : nullptr, m.who});
      results = train_pack(pack, ro);
    }
    // Between runs the group's ranks may wait on the leader's file checks
    // (acquire_run above): no lost-peer deadline there.
    group->set_wait_limit(0);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const std::string took = measured_text(secs) + " s";
    bool interrupted = false;
    for (size_t i = 0; i < members.size(); ++i) {
      const RunResult& res = results[i];
      const std::string& who = members[i].who;
      if (res.outcome == RunOutcome::completed) {
        tally[0] += leader;
        if (leader)
          out << who << ": done in " << took << ", test " << metrics_text(res.record.test) << "\n" << std::flush;
      } else if (res.outcome == RunOutcome::diverged) {
        tally[1] += leader;
        if (leader) out << who << ": FAILED: " << res.reason << " (the sweep goes on)\n" << std::flush;
      } else {
        interrupted = true;
        if (leader)
          out << who << ": interrupted, " << res.reason << "; checkpoint written, rerun the sweep to resume\n"
              << std::flush;
      }
    }
    if (interrupted) {
      tally[2] += leader;
      break;
    }
    if (leader) sweep_progress();
    for (Member& m : members) m.lock.reset();
    test_hold("between_runs", members.back().run->index);
  }
  world.allreduce_sum(std::span<double>(tally, 4));
  SweepOutcome o;
  o.completed = int64_t(tally[0]);
  o.failed = int64_t(tally[1]);
  o.skipped = skipped;
  o.interrupted = tally[2] > 0;
  o.held_elsewhere = int64_t(tally[3]);
  return o;
}

}  // namespace elm
