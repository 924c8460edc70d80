#include "serving/output/stop_matcher.h"

#include <algorithm>

namespace mlxm::serving {

StopMatcher::StopMatcher(std::vector<std::string> stops) {
  for (auto& s : stops) {
    if (s.empty()) continue;
    max_len_ = std::max(max_len_, s.size());
    stops_.push_back(std::move(s));
  }
}

StopMatcher::Step StopMatcher::feed(std::string_view text) {
  Step out;
  if (stopped_) {
    out.stopped = true;
    return out;
  }
  pending_.append(text);
  if (stops_.empty()) {
    out.text.swap(pending_);
    return out;
  }
  // Earliest match of any stop string wins.
  size_t first = std::string::npos;
  for (const auto& s : stops_) first = std::min(first, pending_.find(s));
  if (first != std::string::npos) {
    out.text = pending_.substr(0, first);
    pending_.clear();
    stopped_ = true;
    out.stopped = true;
    return out;
  }
  // Hold back the longest suffix that is a proper prefix of some stop string.
  size_t hold = 0;
  const size_t limit = std::min(pending_.size(), max_len_ - 1);
  for (size_t len = limit; len > 0; --len) {
    std::string_view suffix(pending_.data() + pending_.size() - len, len);
    bool is_prefix = std::any_of(stops_.begin(), stops_.end(), [&](const std::string& s) {
      return s.size() > len && std::string_view(s).substr(0, len) == suffix;
    });
    if (is_prefix) {
      hold = len;
      break;
    }
  }
  out.text = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return out;
}

std::string StopMatcher::flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  return out;
}

}  // namespace mlxm::serving
