// CORS policy: which Origins may call the API, headers added to responses, preflight answers.
// Thread-safety: immutable after construction.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/http/http_types.h"
#include "api/http/router.h"

namespace mlxm::http {

class CorsPolicy {
 public:
  explicit CorsPolicy(std::vector<std::string> origins) : origins_(std::move(origins)) {}

  bool enabled() const { return !origins_.empty(); }
  bool allows(const std::string& origin) const;
  // Adds Access-Control-Allow-Origin etc. when the request's Origin is allowed.
  void apply(const HttpRequest& request, HttpResponse& response) const;
  // Answers an OPTIONS request for a known path (preflight or plain). `match` is the router's
  // result for the path with any method.
  HttpResponse options_response(const HttpRequest& request, const RouteMatch& match) const;

 private:
  std::vector<std::string> origins_;
};

}  // namespace mlxm::http
