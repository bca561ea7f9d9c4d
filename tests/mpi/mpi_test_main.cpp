// gtest under mpirun: MPI is initialised once for all tests; each rank runs
// every test (tests use collectives, so all ranks must take the same path) and
// mpirun's exit status is non-zero when any rank fails.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "dist/mpi_comm.hpp"
#include "mpi_world.hpp"

namespace elm::test {
namespace {
Comm* g_world = nullptr;

// Other ranks print only their failures, prefixed with the rank.
class RankFailurePrinter : public ::testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                 r.line_number(), r.summary());
  }

 private:
  int rank_;
};
}  // namespace
Comm& mpi_world() { return *g_world; }
}  // namespace elm::test

namespace elm::test {
namespace {

// The world every other test relies on: ranks 0..W-1, each once, and
// collectives that reach every rank.
TEST(MpiWorld, RanksAreDistinctAndCollectivesReachEveryRank) {
  Comm& world = mpi_world();
  const int W = world.size();
  ASSERT_GE(W, 1);
  ASSERT_GE(world.rank(), 0);
  ASSERT_LT(world.rank(), W);
  std::vector<double> seen(size_t(W), 0.0);
  seen[size_t(world.rank())] = 1.0;
  world.allreduce_sum(std::span<double>(seen));
  for (int r = 0; r < W; ++r) EXPECT_EQ(seen[size_t(r)], 1.0) << "rank " << r;
  int64_t from_last = world.rank() == W - 1 ? 1234 + W : -1;
  broadcast_value(world, from_last, W - 1);
  EXPECT_EQ(from_last, 1234 + W);
}

}  // namespace
}  // namespace elm::test

int main(int argc, char** argv) {
  elm::MpiSession session;
  auto world = session.world();
  elm::test::g_world = world.get();
  ::testing::InitGoogleTest(&argc, argv);
  if (world->rank() != 0) {
    // Only rank 0 prints the progress; failures on other ranks still print.
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new elm::test::RankFailurePrinter(world->rank()));
  }
  const int rc = RUN_ALL_TESTS();
  double failed = rc != 0;
  world->allreduce_sum(std::span<double>(&failed, 1));
  if (world->rank() == 0 && failed > 0) std::fprintf(stderr, "%d rank(s) failed\n", int(failed));
  world.reset();
  return rc;
}
