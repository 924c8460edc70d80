// Grammars that force a tool call in a family's format (tool_choice "required" or a named
// function): the call's name is one of the allowed tools and its arguments follow that tool's
// JSON schema (json_schema_grammar.h). Special-token markers ([TOOL_CALLS], <|python_tag|>)
// are left out — a grammar over bytes cannot emit special tokens — and the streamer is told the
// output is forced (ToolCallStreamer(format, forced = true)).
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "api/tools/tool_parser.h"
#include "core/status.h"
#include "grammar/grammar.h"

namespace mlxm::api {

// `tools`: the request's OpenAI-style tools array. `only_name`: a named tool_choice ("" = any
// tool). `parallel`: one or more calls instead of exactly one.
// InvalidArgument when no tool matches or a tool's parameters schema is not supported.
Result<std::shared_ptr<const grammar::Grammar>> tool_call_grammar(ToolFormat format,
                                                                  const nlohmann::ordered_json& tools,
                                                                  const std::string& only_name,
                                                                  bool parallel);

}  // namespace mlxm::api
