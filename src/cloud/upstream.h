// One call to a cloud provider for a client request: building the provider's HTTP request
// (URL, key header, body in the provider's protocol with the model rewritten) and turning its
// answer back into the client's protocol. Same-protocol requests pass through with only the
// model rewritten; OpenAI chat <-> Anthropic messages are translated with api/schema's pure
// functions (requests, responses and stream events).
// Thread-safety: plan/relay functions are pure; a StreamRelay belongs to one stream.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "api/schema/anthropic_stream.h"
#include "api/schema/api_error.h"
#include "api/schema/openai_request.h"  // Parsed<T>
#include "cloud/http_client.h"
#include "cloud/provider.h"
#include "cloud/sse_parser.h"

namespace mlxm::cloud {

using ojson = nlohmann::ordered_json;

// The API the client called.
enum class ClientApi { kOpenAiChat, kOpenAiCompletions, kAnthropicMessages };
WireProtocol client_protocol(ClientApi api);

struct UpstreamPlan {
  ClientRequest http;
  bool stream = false;
};

// The provider request for `client_body` (already valid JSON; the provider validates the rest),
// sending `model`. `forward` holds client headers worth passing on (anthropic-version,
// anthropic-beta). Errors are 400s (e.g. a feature the other protocol lacks).
api::Parsed<UpstreamPlan> plan_upstream(ClientApi api, const ojson& client_body,
                                        const ProviderConfig& provider, const std::string& model,
                                        const HeaderPairs& forward = {});

// The provider's non-streamed 2xx body as the client's response body.
api::Parsed<std::string> relay_body(ClientApi api, WireProtocol upstream, const std::string& body);

// The ApiError for a provider's non-2xx answer: the provider's message (with the key, if it
// was echoed, redacted), prefixed by the provider name; the status is kept for 4xx and mapped to
// 502 for 5xx, 401 and 403 (a bad provider key is the server's problem, not the client's).
api::ApiError upstream_error(const std::string& provider, long status, const std::string& body,
                             const std::string& key);

// An error as one SSE frame in the client's protocol (OpenAI: data: {"error": ...};
// Anthropic: event: error).
std::string error_frame(ClientApi api, const api::ApiError& e);

struct RelayUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// A provider's event stream -> the client's SSE frames.
class StreamRelay {
 public:
  StreamRelay(ClientApi api, WireProtocol upstream, const ojson& client_body, std::string model);
  ~StreamRelay();

  // Appends the client frames for `bytes` to `out`. Returns the number of content deltas seen
  // (for time-to-first-token), or an error for a malformed stream.
  Result<int> feed(std::string_view bytes, std::vector<std::string>* out);
  // True once the provider's stream ended properly ([DONE] / message_stop).
  bool complete() const { return complete_; }
  const RelayUsage& usage() const { return usage_; }
  const std::string& finish_reason() const { return finish_reason_; }

 private:
  int on_event(SseEvent&& ev, std::vector<std::string>* out);
  void note_usage(const ojson& j);

  ClientApi api_;
  WireProtocol upstream_;
  SseParser parser_;
  std::unique_ptr<api::OpenAiToAnthropicStream> to_anthropic_;
  std::unique_ptr<api::AnthropicToOpenAiStream> to_openai_;
  bool complete_ = false;
  RelayUsage usage_;
  std::string finish_reason_;
};

}  // namespace mlxm::cloud
