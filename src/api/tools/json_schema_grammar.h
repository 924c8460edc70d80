// JSON Schema -> byte grammar (grammar/grammar.h), for response_format json_schema / json_object
// and for the arguments of forced tool calls.
//
// Supported: type (string, number, integer, boolean, null, object, array, and lists of types),
// properties (emitted in declared order — pass the schema as ordered_json; `required` ones always, the others optionally),
// additionalProperties (only the declared properties are generated when properties exist),
// items, minItems, maxItems, enum, const, anyOf, oneOf, allOf with one member, $ref to
// "#/$defs/..." / "#/definitions/..." (recursion allowed), minLength/maxLength of strings,
// minimum >= 0 (drops the minus sign). `pattern` and `format` are not enforced (any string).
// Numbers: at most 16 integer digits, 16 fraction digits and a 2-digit exponent, so a sampled
// number always ends. Whitespace: "", " " or a newline and up to 16 spaces between tokens.
//
// Thread-safety: pure functions.
#pragma once

#include <nlohmann/json.hpp>

#include <memory>

#include "core/status.h"
#include "grammar/grammar.h"

namespace mlxm::api {

// Adds the rules for values valid under `schema` (whose $refs resolve against `root`) to `g` and
// returns the value rule. InvalidArgument naming the problem for a malformed schema (false,
// unresolvable $ref, unsupported keyword combinations).
Result<int32_t> add_json_schema_rules(grammar::Grammar& g, const nlohmann::ordered_json& schema,
                                      const nlohmann::ordered_json& root);

// A finalized grammar for one JSON value valid under `schema` (optionally surrounded by
// whitespace is NOT allowed: the output is the value itself).
Result<std::shared_ptr<const grammar::Grammar>> json_schema_grammar(const nlohmann::ordered_json& schema);

// Any JSON object (response_format json_object).
std::shared_ptr<const grammar::Grammar> json_object_grammar();

// Shared building blocks for grammars that embed JSON (tool-call formats).
int32_t json_ws_rule(grammar::Grammar& g);

}  // namespace mlxm::api
