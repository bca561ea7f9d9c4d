#include "dist/comm.hpp"

#include <cstdlib>
#include <iostream>

namespace elm {

void SerialComm::abort_job(int exit_code) {
  std::cerr.flush();
  std::_Exit(exit_code);
}

void broadcast_string(Comm& comm, std::string& text, int root) {
  int64_t n = int64_t(text.size());
  broadcast_value(comm, n, root);
  text.resize(size_t(n));
  broadcast_values(comm, std::span<char>(text.data(), text.size()), root);
}

uint64_t fnv1a64(std::span<const std::byte> bytes, uint64_t hash) {
  for (std::byte b : bytes) {
    hash ^= uint64_t(b);
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace elm
