// minigtest driver: runs every registered TEST (optionally those whose "Suite.Name" contains
// argv[1]), prints gtest-like lines and a PASS/FAIL summary; exit 1 on any failure.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "gtest/gtest.h"

int main(int argc, char** argv) {
  const char* filter = argc > 1 ? argv[1] : "";
  int passed = 0, failed = 0, skipped = 0;
  std::string failed_names;
  for (const auto& t : minigtest::registry()) {
    const std::string full = std::string(t.suite) + "." + t.name;
    if (full.find(filter) == std::string::npos) continue;
    minigtest::state() = minigtest::State{};
    std::printf("[ RUN      ] %s\n", full.c_str());
    std::fflush(stdout);
    const auto t0 = std::chrono::steady_clock::now();
    try {
      t.fn();
    } catch (const std::exception& e) {
      ++minigtest::state().failures;
      std::printf("uncaught exception: %s\n", e.what());
    } catch (...) {
      ++minigtest::state().failures;
      std::printf("uncaught exception\n");
    }
    const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - t0).count();
    if (minigtest::state().failures > 0) {
      ++failed;
      failed_names += " " + full;
      std::printf("[  FAILED  ] %s (%lld ms)\n", full.c_str(), ms);
    } else if (minigtest::state().skipped) {
      ++skipped;
      std::printf("[  SKIPPED ] %s (%lld ms)\n", full.c_str(), ms);
    } else {
      ++passed;
      std::printf("[       OK ] %s (%lld ms)\n", full.c_str(), ms);
    }
    std::fflush(stdout);
  }
  std::printf("\n%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed > 0) std::printf("FAILED:%s\n", failed_names.c_str());
  return failed > 0 ? 1 : 0;
}
