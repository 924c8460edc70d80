#include "api/common/constrain.h"

#include "api/tools/json_schema_grammar.h"
#include "grammar/gbnf.h"
#include "grammar/grammar_processor.h"

namespace mlxm::api {
namespace {

void attach(const std::shared_ptr<const grammar::Grammar>& g, const serving::ModelInstance& model,
            const std::vector<serving::GenerationRequest*>& requests) {
  auto cg = std::make_shared<grammar::CompiledGrammar>(g, model.token_trie(),
                                                       requests[0]->stop_token_ids);
  for (serving::GenerationRequest* r : requests) {
    r->logits_processor = std::make_shared<grammar::GrammarProcessor>(cg);
  }
}

}  // namespace

std::optional<ApiError> apply_response_format(const std::string& body,
                                              const serving::ModelInstance& model,
                                              std::vector<serving::GenerationRequest*> requests) {
  using ojson = nlohmann::ordered_json;
  const ojson b = ojson::parse(body, nullptr, false);
  if (!b.is_object()) return std::nullopt;
  std::shared_ptr<const grammar::Grammar> g;
  const auto gr = b.find("grammar");
  if (gr != b.end() && gr->is_string()) {
    auto parsed = grammar::parse_gbnf(gr->get<std::string>());
    if (!parsed.ok()) return ApiError::invalid("grammar", "grammar: " + parsed.status().message());
    g = *parsed;
    if (requests.empty()) return std::nullopt;
    attach(g, model, requests);
    return std::nullopt;
  }
  if (!b.contains("response_format")) return std::nullopt;
  const ojson& rf = b["response_format"];
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string()) return std::nullopt;
  const std::string type = rf["type"].get<std::string>();
  if (type == "json_object") {
    g = json_object_grammar();
  } else if (type == "json_schema") {
    const ojson& js = rf["json_schema"];
    const ojson schema = js.contains("schema") ? js["schema"] : ojson{{"type", "object"}};
    auto compiled = json_schema_grammar(schema);
    if (!compiled.ok()) {
      return ApiError::invalid("response_format", "response_format.json_schema.schema: " +
                                                      compiled.status().message());
    }
    g = *compiled;
  } else {
    return std::nullopt;
  }
  if (requests.empty()) return std::nullopt;
  attach(g, model, requests);
  return std::nullopt;
}

}  // namespace mlxm::api
