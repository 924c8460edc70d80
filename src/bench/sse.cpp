#include "bench/sse.h"

namespace mlxm::bench {

std::vector<SseEvent> SseParser::feed(std::string_view bytes) {
  std::vector<SseEvent> out;
  for (char c : bytes) {
    if (pending_cr_) {
      pending_cr_ = false;
      if (c == '\n') continue;  // CRLF: the line was already taken at '\r'
    }
    if (c == '\r' || c == '\n') {
      take_line(line_, &out);
      line_.clear();
      pending_cr_ = (c == '\r');
      continue;
    }
    if (line_.size() >= max_line_bytes) {
      overflowed_ = true;
      continue;
    }
    line_.push_back(c);
  }
  return out;
}

void SseParser::take_line(std::string_view line, std::vector<SseEvent>* out) {
  if (line.empty()) {  // blank line: dispatch
    if (has_data_ || !event_.empty()) out->push_back(SseEvent{event_, data_});
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;  // comment / keep-alive
  std::string_view field = line;
  std::string_view value;
  if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  }  // id:, retry: and unknown fields are ignored
}

}  // namespace mlxm::bench
