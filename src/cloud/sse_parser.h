// Incremental Server-Sent Events parser (the WHATWG event-stream rules): bytes arrive in
// arbitrary pieces (a line, an event or a CRLF pair may be split anywhere); lines end in LF,
// CRLF or CR; lines starting with ':' are comments; "data" lines of one event are joined with
// '\n'; an event is dispatched at a blank line and only when it has data; a field without a
// colon is a field with an empty value; one space after the colon is dropped.
// Thread-compatible: one parser per stream.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace mlxm::cloud {

struct SseEvent {
  std::string event;  // "" when the stream named none ("message" by default)
  std::string data;
  std::string id;
};

class SseParser {
 public:
  using OnEvent = std::function<void(SseEvent&&)>;
  // A line longer than `max_line_bytes` is a malformed stream (the feed returns an error).
  explicit SseParser(size_t max_line_bytes = 16 << 20) : max_line_(max_line_bytes) {}

  // Parses `bytes`, calling `on_event` for each complete event. An error (over-long line)
  // is sticky: later feeds return it too.
  Status feed(std::string_view bytes, const OnEvent& on_event);

  // True when an incomplete line or an undispatched event is pending (the stream was cut).
  bool has_partial() const { return !line_.empty() || has_data_ || !cur_.event.empty(); }

 private:
  void on_line(const OnEvent& on_event);

  size_t max_line_;
  std::string line_;
  bool skip_lf_ = false;  // the previous piece ended in CR: a leading LF belongs to it
  SseEvent cur_;
  bool has_data_ = false;
  Status error_;
};

}  // namespace mlxm::cloud
