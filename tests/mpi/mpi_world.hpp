#pragma once
#include <string>

#include "dist/comm.hpp"

namespace elm::test {
// The MPI world of this test process (MPI_COMM_WORLD).
Comm& mpi_world();
}  // namespace elm::test
