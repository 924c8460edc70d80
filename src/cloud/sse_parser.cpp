#include "cloud/sse_parser.h"

namespace mlxm::cloud {

Status SseParser::feed(std::string_view bytes, const OnEvent& on_event) {
  if (!error_.ok()) return error_;
  size_t i = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') i = 1;
    skip_lf_ = false;
  }
  while (i < bytes.size()) {
    const size_t end = bytes.find_first_of("\r\n", i);
    if (end == std::string_view::npos) {
      line_.append(bytes.substr(i));
      break;
    }
    line_.append(bytes.substr(i, end - i));
    if (line_.size() > max_line_) break;
    on_line(on_event);
    line_.clear();
    if (bytes[end] == '\r') {
      if (end + 1 == bytes.size()) {
        skip_lf_ = true;
        i = end + 1;
        break;
      }
      i = bytes[end + 1] == '\n' ? end + 2 : end + 1;
    } else {
      i = end + 1;
    }
  }
  if (line_.size() > max_line_) {
    error_ = invalid_argument("malformed event stream: a line exceeds " +
                              std::to_string(max_line_) + " bytes");
    line_.clear();
  }
  return error_;
}

void SseParser::on_line(const OnEvent& on_event) {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_) {
      if (!cur_.data.empty() && cur_.data.back() == '\n') cur_.data.pop_back();
      on_event(std::move(cur_));
    }
    cur_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line_[0] == ':') return;  // comment (keep-alive)
  std::string_view line(line_);
  const size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    cur_.data.append(value);
    cur_.data.push_back('\n');
    has_data_ = true;
  } else if (field == "event") {
    cur_.event.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) cur_.id.assign(value);
  }
  // "retry" and unknown fields are ignored.
}

}  // namespace mlxm::cloud
