#include "core/test_hold.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "core/stop_request.hpp"

namespace elm {

namespace {

struct HoldSpec {
  std::string point;
  int64_t n = -1;
  std::string file;
  std::string release_file;
  double seconds = 60;
};

// Read once: the environment does not change while a command runs.
const HoldSpec* hold_spec() {
  static const HoldSpec* spec = []() -> const HoldSpec* {
    const char* v = std::getenv("ELM_TEST_HOLD");
    if (!v || !*v) return nullptr;
    auto* s = new HoldSpec;
    std::string text = v;
    if (auto at = text.find('@'); at != std::string::npos) {
      s->point = text.substr(0, at);
      s->n = std::atoll(text.c_str() + at + 1);
    } else {
      s->point = text;
    }
    if (const char* f = std::getenv("ELM_TEST_HOLD_FILE")) s->file = f;
    if (const char* t = std::getenv("ELM_TEST_HOLD_SECONDS")) s->seconds = std::atof(t);
    if (const char* r = std::getenv("ELM_TEST_HOLD_RELEASE_FILE")) s->release_file = r;
    return s;
  }();
  return spec;
}

}  // namespace

void test_hold(const char* point, int64_t n) {
  const HoldSpec* s = hold_spec();
  if (!s || s->point != point || (s->n >= 0 && s->n != n)) return;
  auto released = [s] { return !s->release_file.empty() && std::filesystem::exists(s->release_file); };
  if (released()) return;
  if (!s->file.empty()) std::ofstream(s->file, std::ios::app) << point << " " << n << "\n";
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(s->seconds);
  while (!StopRequest::pending() && !released() && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

}  // namespace elm
