// A one-line progress bar on stderr, drawn only when stderr is a terminal (quiet otherwise, so
// logs and pipes stay clean). Thread-safe: workers call tick() concurrently.
#pragma once

#include <mutex>
#include <string>

namespace mlxm::bench {

class ProgressBar {
 public:
  // enabled: draw at all (pass false for --quiet); it still stays silent when not a tty.
  ProgressBar(std::string label, int total, bool enabled = true);
  ~ProgressBar() { finish(); }
  void tick(bool ok);
  void finish();  // ends the line (idempotent)

 private:
  void draw();  // REQUIRES: mu_ held
  std::mutex mu_;
  std::string label_;
  int total_ = 0, done_ = 0, failed_ = 0;
  bool active_ = false;
};

}  // namespace mlxm::bench
