#include "bench/progress.h"

#include <unistd.h>

#include <cstdio>

namespace mlxm::bench {

ProgressBar::ProgressBar(std::string label, int total, bool enabled)
    : label_(std::move(label)), total_(total), active_(enabled && isatty(STDERR_FILENO)) {
  std::lock_guard<std::mutex> lock(mu_);
  if (active_) draw();
}

void ProgressBar::tick(bool ok) {
  std::lock_guard<std::mutex> lock(mu_);
  ++done_;
  if (!ok) ++failed_;
  if (active_) draw();
}

void ProgressBar::finish() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!active_) return;
  std::fputc('\n', stderr);
  std::fflush(stderr);
  active_ = false;
}

void ProgressBar::draw() {
  constexpr int kWidth = 30;
  const int filled = total_ > 0 ? done_ * kWidth / total_ : kWidth;
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(kWidth, '.');
  std::fprintf(stderr, "\r%s [%s] %d/%d%s", label_.c_str(), bar.c_str(), done_, total_,
               failed_ ? (" (" + std::to_string(failed_) + " failed)").c_str() : "");
  std::fflush(stderr);
}

}  // namespace mlxm::bench
