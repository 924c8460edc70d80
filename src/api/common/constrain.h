// Structured output for local models: the request's response_format (json_object, json_schema)
// or its `grammar` (GBNF, grammar/gbnf.h) compiled to a grammar and attached to each engine request as a per-sequence GrammarProcessor,
// so the constraint is enforced while decoding (not checked afterwards).
//
// Thread-safety: pure functions; the processors they attach run on the model's engine thread.
#pragma once

#include <nlohmann/json.hpp>

#include <optional>
#include <vector>

#include "api/schema/api_error.h"
#include "serving/engine_loop.h"
#include "serving/model_instance.h"

namespace mlxm::api {

// `body` is the raw request body (re-read in key order so schema properties keep their
// declared order). Attaches one processor per request in `requests` (all share one compiled
// grammar and its mask cache). Returns a 400 ApiError (param "response_format") for a schema
// that cannot be compiled, (param "grammar") for GBNF that does not parse, naming the problem
// and its line and column; nothing is attached for "text" or an absent response_format and
// grammar. (The request parser already refused a grammar together with a response_format.)
std::optional<ApiError> apply_response_format(const std::string& body,
                                              const serving::ModelInstance& model,
                                              std::vector<serving::GenerationRequest*> requests);

}  // namespace mlxm::api
