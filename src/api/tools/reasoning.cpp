#include "api/tools/reasoning.h"

#include <algorithm>

namespace mlxm::api {
namespace {

size_t partial_suffix(std::string_view s, std::string_view marker) {
  for (size_t n = std::min(s.size(), marker.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == marker.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace

ReasoningSplitter::ReasoningSplitter(bool starts_in_reasoning, std::string open,
                                     std::string close)
    : open_(std::move(open)), close_(std::move(close)), in_reasoning_(starts_in_reasoning) {}

void ReasoningSplitter::scan(ReasoningDelta* d, bool final) {
  while (!buf_.empty()) {
    if (in_reasoning_) {
      const size_t p = buf_.find(close_);
      if (p != std::string::npos) {
        d->reasoning += buf_.substr(0, p);
        buf_.erase(0, p + close_.size());
        in_reasoning_ = false;
        seen_close_ = true;
        // The newline(s) a template puts after </think> belong to neither side.
        at_start_ = true;
        continue;
      }
      const size_t keep = final ? 0 : partial_suffix(buf_, close_);
      d->reasoning += buf_.substr(0, buf_.size() - keep);
      buf_.erase(0, buf_.size() - keep);
      return;
    }
    if (!seen_close_) {
      const size_t p = buf_.find(open_);
      if (p != std::string::npos) {
        std::string before = buf_.substr(0, p);
        if (before.find_first_not_of(" \n\t\r") != std::string::npos || !at_start_) {
          d->content += before;
        }
        buf_.erase(0, p + open_.size());
        in_reasoning_ = true;
        continue;
      }
      // Leading whitespace waits: a <think> may still come.
      if (at_start_ && !final && buf_.find_first_not_of(" \n\t\r") == std::string::npos) return;
      const size_t keep = final ? 0 : partial_suffix(buf_, open_);
      d->content += buf_.substr(0, buf_.size() - keep);
      buf_.erase(0, buf_.size() - keep);
      if (!d->content.empty()) at_start_ = false;
      return;
    }
    if (at_start_) {
      buf_.erase(0, std::min(buf_.size(), buf_.find_first_not_of("\n")));
      if (buf_.empty()) return;
    }
    d->content += buf_;
    buf_.clear();
    at_start_ = false;
  }
}

ReasoningDelta ReasoningSplitter::feed(std::string_view text) {
  ReasoningDelta d;
  buf_.append(text);
  scan(&d, false);
  return d;
}

ReasoningDelta ReasoningSplitter::finish() {
  ReasoningDelta d;
  scan(&d, true);
  return d;
}

bool template_has_reasoning(std::string_view t) {
  return t.find("<think>") != std::string_view::npos && t.find("</think>") != std::string_view::npos;
}

bool prompt_opens_reasoning(std::string_view prompt) {
  const size_t p = prompt.rfind("<think>");
  if (p == std::string_view::npos) return false;
  return prompt.find("</think>", p) == std::string_view::npos &&
         prompt.find_first_not_of(" \n", p + 7) == std::string_view::npos;
}

}  // namespace mlxm::api
