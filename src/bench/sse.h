// Incremental Server-Sent Events parser (WHATWG EventSource rules, the subset LLM APIs use):
// bytes arrive in arbitrary pieces (a line, an event or a CRLF may be split across network
// reads); complete events come out in order. Not thread-safe: one parser per stream.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mlxm::bench {

struct SseEvent {
  std::string event;  // the `event:` field; "" when absent (means "message")
  std::string data;   // `data:` lines joined with '\n'
};

class SseParser {
 public:
  // Appends bytes and returns the events completed by them (possibly none).
  std::vector<SseEvent> feed(std::string_view bytes);
  // True when bytes of an unfinished event are buffered (a stream that ends here was cut).
  bool has_partial() const { return !line_.empty() || !data_.empty() || !event_.empty(); }
  size_t max_line_bytes = 16 << 20;  // a longer line is an error (see overflowed())
  bool overflowed() const { return overflowed_; }

 private:
  void take_line(std::string_view line, std::vector<SseEvent>* out);

  std::string line_;         // bytes of the current, unfinished line
  bool pending_cr_ = false;  // the previous piece ended on '\r' (a '\n' may follow)
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  bool overflowed_ = false;
};

}  // namespace mlxm::bench
