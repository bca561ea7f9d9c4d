#pragma once
// A deterministic trigger for the interruption tests: with ELM_TEST_HOLD set
// to POINT or POINT@N (N: a step or run index), the process pauses when it
// reaches that point, writes the file named by ELM_TEST_HOLD_FILE (if set) and
// waits until a stop signal is pending (at most ELM_TEST_HOLD_SECONDS,
// default 60), so a test can deliver a signal, or kill -9, at exactly that
// moment instead of racing the machine's speed. Unset (always, outside the
// tests) it costs one comparison. With ELM_TEST_HOLD_RELEASE_FILE set, the
// hold also ends when that file appears, and is skipped when it is already
// there (a requeued job that reaches the point again is not held again).
//
// Points: step (before the stop flag of step N is read), eval (inside an
// evaluation, after its first batch), test_eval (the same inside the final
// test evaluation), checkpoint (state written, DONE marker not yet),
// results (checkpoint.h5 written, results.h5 not yet), done_marker
// (results.h5 written, DONE not yet), after_done (DONE written, checkpoints/
// not yet removed), between_runs (a sweep after run N),
// summary (before the sweep summary is written).
#include <cstdint>

namespace elm {

void test_hold(const char* point, int64_t n = -1);

}  // namespace elm
