// POST /v1/messages/count_tokens for models served by a routing rule. The rule's chain is
// walked in order: a local step counts with the local model (moving on when it is missing or
// cannot load); an Anthropic provider is asked its own /messages/count_tokens (the body passed
// through with only the model rewritten; one try: a 429, 5xx or connection error moves on,
// another 4xx goes back to the client); an OpenAI or OpenAI-compatible provider cannot count
// (those APIs have no token-counting endpoint and their tokenizers are not ours to run), so it
// is skipped. When no step could count: 400 naming the backends when none of them can count
// at all, else 502 backend_unavailable naming each backend and why. Every answer carries
// X-MLX-Backend. Unmatched models go to the local handler.
//
// The provider call runs on the calling thread (POST handlers run on the HTTP server's blocking
// pool), bounded by the client's connect and read timeouts.
// Thread-safety: thread-safe.
#pragma once

#include <memory>

#include "api/http/http_types.h"
#include "cloud/cloud_config.h"

namespace mlxm::api {

http::HttpResponse route_count_tokens(cloud::CloudConfig& cloud, const http::Handler& local,
                                      http::HttpRequest& req);

}  // namespace mlxm::api
