// Cloud routing settings over HTTP (JSON in and out; errors {"error": {"message", "type",
// "param", "code"}} with param naming the offending field):
//   GET    /api/settings/rules                   -> {"rules": [...]} in order
//   POST   /api/settings/rules                   rule (+ optional "position") -> 201 rule
//   PUT    /api/settings/rules/{id}              rule -> 200 rule
//   DELETE /api/settings/rules/{id}              -> 204
//   POST   /api/settings/rules/reorder           {"ids": [...every id...]} -> {"rules": [...]}
//   POST   /api/settings/rules/test?model=NAME   -> which rule and backend chain would serve it
//   GET    /api/settings/providers               -> {"providers": [...], "presets": [...]}
//                                                   (keys never returned: has_key, masked)
//   POST   /api/settings/providers               provider -> 201
//   PUT    /api/settings/providers/{name}        provider fields -> 200 (no api_key: kept)
//   DELETE /api/settings/providers/{name}        -> 204 (409 while a rule uses it)
//   POST   /api/settings/providers/{name}/test   a cheap real call (GET {base_url}/models)
// Every handler goes through `guard` (authentication, added by the caller), identity if null.
// Thread-safety: handlers run on io threads (test blocks its thread for one short call).
#pragma once

#include <functional>
#include <memory>

#include "api/http/router.h"
#include "cloud/cloud_config.h"

namespace mlxm::api {

struct SettingsDeps {
  std::shared_ptr<cloud::CloudConfig> cloud;
  std::function<http::Handler(http::Handler)> guard;
};

void register_settings_routes(http::Router& router, SettingsDeps deps);

}  // namespace mlxm::api
