#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/added_vocab.h"
#include "tokenizer/bpe.h"
#include "tokenizer/decoders.h"
#include "tokenizer/normalizers.h"
#include "tokenizer/pre_tokenizers.h"
#include "tokenizer/regex.h"
#include "tokenizer/text.h"

namespace mlxm {

using json = nlohmann::json;

namespace {

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot open " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  if (f.bad()) return data_loss("error reading " + path);
  return ss.str();
}

// A special token in tokenizer_config.json: "text" or {"content": "text", ...} or null.
std::optional<std::string> config_token(const json& cfg, const char* key) {
  if (!cfg.is_object() || !cfg.contains(key)) return std::nullopt;
  const json& v = cfg[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) {
    return v["content"].get<std::string>();
  }
  return std::nullopt;
}

using TemplateSeq = std::vector<std::vector<int32_t>>;  // empty element = the sequence

// Looks up a special token of a TemplateProcessing by name in its "special_tokens" map.
Result<std::vector<int32_t>> template_special(const json& pp, const std::string& name) {
  const json& st = pp.value("special_tokens", json::object());
  if (!st.is_object() || !st.contains(name)) {
    return invalid_argument("TemplateProcessing: special token '" + name + "' not in special_tokens");
  }
  const json& e = st[name];
  if (!e.is_object() || !e.contains("ids") || !e["ids"].is_array() || e["ids"].empty()) {
    return invalid_argument("TemplateProcessing: special token '" + name + "' has no ids");
  }
  std::vector<int32_t> ids;
  for (const auto& id : e["ids"]) {
    if (!id.is_number_integer()) return invalid_argument("TemplateProcessing: bad id for '" + name + "'");
    ids.push_back(id.get<int32_t>());
  }
  return ids;
}

Result<TemplateSeq> parse_template(const json& pp) {
  const json& single = pp.value("single", json());
  TemplateSeq t;
  if (single.is_string()) {  // "<s> $A </s>" form
    std::istringstream ss(single.get<std::string>());
    std::string piece;
    while (ss >> piece) {
      const std::string name = piece.substr(0, piece.find(':'));
      if (name == "$" || name == "$A" || name == "$0") {
        t.emplace_back();
      } else if (name == "$B" || name == "$1") {
        return unimplemented("TemplateProcessing: pair sequences are not supported in \"single\"");
      } else {
        MLXM_ASSIGN_OR_RETURN(auto ids, template_special(pp, name));
        t.push_back(std::move(ids));
      }
    }
    return t;
  }
  if (!single.is_array()) return invalid_argument("TemplateProcessing needs \"single\"");
  for (const auto& item : single) {
    if (item.contains("SpecialToken")) {
      const json& s = item["SpecialToken"];
      if (!s.contains("id") || !s["id"].is_string()) return invalid_argument("TemplateProcessing: bad SpecialToken");
      MLXM_ASSIGN_OR_RETURN(auto ids, template_special(pp, s["id"].get<std::string>()));
      t.push_back(std::move(ids));
    } else if (item.contains("Sequence")) {
      t.emplace_back();
    } else {
      return invalid_argument("TemplateProcessing: unknown template item " + item.dump());
    }
  }
  return t;
}

// Bert/Roberta post-processors: {"cls": ["[CLS]", 101], "sep": ["[SEP]", 102]}.
Result<TemplateSeq> parse_cls_sep(const json& pp) {
  auto id_of = [&](const char* key) -> Result<int32_t> {
    const json& v = pp.value(key, json());
    if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer()) {
      return invalid_argument(std::string("post_processor: bad \"") + key + "\"");
    }
    return v[1].get<int32_t>();
  };
  MLXM_ASSIGN_OR_RETURN(int32_t cls, id_of("cls"));
  MLXM_ASSIGN_OR_RETURN(int32_t sep, id_of("sep"));
  return TemplateSeq{{cls}, {}, {sep}};
}

Status parse_post_processor(const json& pp, std::vector<TemplateSeq>* out) {
  if (pp.is_null()) return ok_status();
  if (!pp.is_object() || !pp.contains("type") || !pp["type"].is_string()) {
    return invalid_argument("post_processor must be an object with a \"type\"");
  }
  const std::string type = pp["type"].get<std::string>();
  if (type == "ByteLevel") return ok_status();  // only affects offsets
  if (type == "TemplateProcessing") {
    MLXM_ASSIGN_OR_RETURN(auto t, parse_template(pp));
    out->push_back(std::move(t));
    return ok_status();
  }
  if (type == "BertProcessing" || type == "RobertaProcessing") {
    MLXM_ASSIGN_OR_RETURN(auto t, parse_cls_sep(pp));
    out->push_back(std::move(t));
    return ok_status();
  }
  if (type == "Sequence") {
    if (!pp.contains("processors") || !pp["processors"].is_array()) {
      return invalid_argument("Sequence post_processor needs an array \"processors\"");
    }
    for (const auto& p : pp["processors"]) MLXM_RETURN_IF_ERROR(parse_post_processor(p, out));
    return ok_status();
  }
  return unimplemented("unsupported post_processor type '" + type + "'");
}

}  // namespace

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

Result<std::unique_ptr<Tokenizer>> Tokenizer::load(const std::string& model_dir) {
  const std::string tj_path = model_dir + "/tokenizer.json";
  MLXM_ASSIGN_OR_RETURN(std::string tj, read_file(tj_path));
  std::string cj;
  auto cfg = read_file(model_dir + "/tokenizer_config.json");
  if (cfg.ok()) {
    cj = std::move(cfg).value();
  } else if (cfg.status().code() != StatusCode::kNotFound) {
    return cfg.status();
  }
  auto r = from_json(tj, cj);
  if (!r.ok()) return r.status().with_context("loading " + tj_path);
  return r;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_json(std::string_view tokenizer_json,
                                                        std::string_view config_json) {
  try {
    const json tj = json::parse(tokenizer_json, nullptr, /*allow_exceptions=*/false);
    if (tj.is_discarded() || !tj.is_object()) return invalid_argument("tokenizer.json is not a JSON object");
    json cfg = json::object();
    if (!config_json.empty()) {
      cfg = json::parse(config_json, nullptr, false);
      if (cfg.is_discarded() || !cfg.is_object()) {
        return invalid_argument("tokenizer_config.json is not a JSON object");
      }
    }
    std::unique_ptr<Tokenizer> t(new Tokenizer());
    // Model.
    const json& model = tj.value("model", json());
    if (!model.is_object()) return invalid_argument("tokenizer.json has no \"model\" object");
    std::string mtype = model.value("type", std::string());
    if (mtype.empty() && model.contains("merges")) mtype = "BPE";  // old files omit the type
    if (mtype != "BPE") return unimplemented("unsupported model type '" + mtype + "' (only BPE)");
    MLXM_ASSIGN_OR_RETURN(t->model_, tok::BpeModel::from_json(model));
    MLXM_ASSIGN_OR_RETURN(t->normalizer_, tok::make_normalizer(tj.value("normalizer", json())));
    MLXM_ASSIGN_OR_RETURN(t->pre_tokenizer_, tok::make_pre_tokenizer(tj.value("pre_tokenizer", json())));
    t->byte_level_split_ = tok::byte_level_split_fast_path(tj.value("pre_tokenizer", json()));
    MLXM_ASSIGN_OR_RETURN(t->decoder_, tok::make_decoder(tj.value("decoder", json())));
    std::vector<TemplateSeq> templates;
    MLXM_RETURN_IF_ERROR(parse_post_processor(tj.value("post_processor", json()), &templates));

    // Vocabulary: model tokens, then added tokens (which may reuse or extend ids).
    std::vector<tok::AddedToken> added;
    const json& at = tj.value("added_tokens", json::array());
    if (!at.is_array()) return invalid_argument("\"added_tokens\" must be an array");
    for (const auto& a : at) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") ||
          !a["content"].is_string() || a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() > INT32_MAX) {
        return invalid_argument("malformed added token: " + a.dump());
      }
      tok::AddedToken x;
      x.id = a["id"].get<int32_t>();
      x.content = a["content"].get<std::string>();
      x.special = a.value("special", false);
      x.lstrip = a.value("lstrip", false);
      x.rstrip = a.value("rstrip", false);
      x.single_word = a.value("single_word", false);
      x.normalized = a.value("normalized", !x.special);
      added.push_back(std::move(x));
    }
    int64_t size = 0;
    for (const auto& [tok, id] : t->model_->vocab()) size = std::max<int64_t>(size, int64_t{id} + 1);
    for (const auto& a : added) size = std::max<int64_t>(size, int64_t{a.id} + 1);
    if (size > (int64_t{1} << 24)) return invalid_argument("vocabulary ids are too large");
    t->id_to_token_.assign(static_cast<size_t>(size), std::string());
    t->has_token_.assign(static_cast<size_t>(size), false);
    t->special_.assign(static_cast<size_t>(size), false);
    for (const auto& [tok, id] : t->model_->vocab()) {
      t->id_to_token_[id] = tok;
      t->has_token_[id] = true;
    }
    for (const auto& a : added) {
      t->id_to_token_[a.id] = a.content;
      t->has_token_[a.id] = true;
      t->special_[a.id] = a.special;
    }
    t->added_ = std::make_unique<tok::AddedVocabulary>(added, t->normalizer_.get());

    // tokenizer_config.json.
    if (auto b = config_token(cfg, "bos_token")) t->bos_id_ = t->token_to_id(*b);
    if (auto e = config_token(cfg, "eos_token")) t->eos_id_ = t->token_to_id(*e);
    if (cfg.contains("clean_up_tokenization_spaces") && cfg["clean_up_tokenization_spaces"].is_boolean()) {
      t->clean_up_tokenization_spaces_ = cfg["clean_up_tokenization_spaces"].get<bool>();
    }
    // transformers' LlamaTokenizerFast / GemmaTokenizerFast rebuild the post-processor from
    // add_bos_token (default true) and add_eos_token (default false).
    const std::string cls = cfg.value("tokenizer_class", std::string());
    if (cls == "LlamaTokenizer" || cls == "LlamaTokenizerFast" || cls == "GemmaTokenizer" ||
        cls == "GemmaTokenizerFast") {
      const bool add_bos = cfg.value("add_bos_token", true);
      const bool add_eos = cfg.value("add_eos_token", false);
      if ((!add_bos || t->bos_id_) && (!add_eos || t->eos_id_)) {
        TemplateSeq tpl;
        if (add_bos) tpl.push_back({*t->bos_id_});
        tpl.emplace_back();
        if (add_eos) tpl.push_back({*t->eos_id_});
        templates.assign(1, std::move(tpl));
      }
    }
    // Compose the templates (each wraps the previous result) into one.
    t->template_.present = !templates.empty();
    TemplateSeq composed(1);  // just the sequence
    for (const TemplateSeq& tpl : templates) {
      TemplateSeq next;
      for (const auto& piece : tpl) {
        if (piece.empty()) {
          next.insert(next.end(), composed.begin(), composed.end());
        } else {
          next.push_back(piece);
        }
      }
      composed = std::move(next);
    }
    t->template_.pieces = std::move(composed);
    for (const auto& piece : t->template_.pieces) {
      for (int32_t id : piece) {
        if (id < 0 || id >= t->vocab_size()) {
          return invalid_argument("post_processor adds id " + std::to_string(id) + " outside the vocabulary");
        }
      }
    }
    return t;
  } catch (const std::exception& e) {
    return invalid_argument(std::string("malformed tokenizer.json: ") + e.what());
  }
}

void Tokenizer::encode_section(std::string_view text, bool at_start, std::vector<int32_t>* ids) const {
  std::string normalized;
  if (normalizer_) normalized = normalizer_->normalize(std::string(text));
  const std::string_view norm = normalizer_ ? std::string_view(normalized) : text;
  std::vector<tok::AddedVocabulary::Split> splits;
  added_->split(norm, /*normalized_pass=*/true, &splits);
  std::vector<tok::Piece> pieces;
  std::vector<std::pair<size_t, size_t>> matches;
  std::string word;
  const auto& byte_chars = tok::byte_level_chars();
  for (const auto& s : splits) {
    if (s.id >= 0) {
      ids->push_back(s.id);
      continue;
    }
    if (s.end == s.begin) continue;
    if (byte_level_split_) {
      // Split(Isolated) + ByteLevel without materialising pieces: every match and every gap
      // between matches is one word, mapped to the byte-level alphabet.
      const std::string_view sec = norm.substr(s.begin, s.end - s.begin);
      matches.clear();
      byte_level_split_->find_all(sec, &matches);
      size_t prev = 0;
      auto emit = [&](size_t b, size_t e) {
        word.clear();
        for (size_t k = b; k < e; ++k) word += byte_chars[static_cast<unsigned char>(sec[k])];
        model_->tokenize(word, ids);
      };
      for (auto [b, e] : matches) {
        if (b > prev) emit(prev, b);
        emit(b, e);
        prev = e;
      }
      if (prev < sec.size()) emit(prev, sec.size());
      continue;
    }
    pieces.clear();
    pieces.push_back(tok::Piece{std::string(norm.substr(s.begin, s.end - s.begin)), at_start && s.begin == 0});
    if (pre_tokenizer_) pre_tokenizer_->pre_tokenize(&pieces);
    for (const auto& p : pieces) model_->tokenize(p.text, ids);
  }
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string owned;
  if (!tok::is_valid_utf8(text)) {
    owned = tok::utf8_lossy(text);
    text = owned;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  std::vector<tok::AddedVocabulary::Split> splits;
  added_->split(text, /*normalized_pass=*/false, &splits);
  for (const auto& s : splits) {
    if (s.id >= 0) {
      ids.push_back(s.id);
    } else if (s.end > s.begin) {
      encode_section(text.substr(s.begin, s.end - s.begin), s.begin == 0, &ids);
    }
  }
  if (!add_special_tokens || !template_.present) return ids;
  std::vector<int32_t> out;
  out.reserve(ids.size() + 4);
  for (const auto& piece : template_.pieces) {
    if (piece.empty()) {
      out.insert(out.end(), ids.begin(), ids.end());
    } else {
      out.insert(out.end(), piece.begin(), piece.end());
    }
  }
  return out;
}

Result<std::string> Tokenizer::decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= vocab_size() || !has_token_[id]) {
      return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary (size " +
                              std::to_string(vocab_size()) + ")");
    }
    if (skip_special_tokens && special_[id]) continue;
    tokens.push_back(id_to_token_[id]);
  }
  if (!decoder_) {
    std::string out;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out += tokens[i];
    }
    return out;
  }
  decoder_->decode_chain(&tokens);
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

Result<std::string> Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  return decode_impl(ids, skip_special_tokens);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  // Added tokens take precedence (they may shadow a model token with the same content).
  std::vector<tok::AddedVocabulary::Split> s;
  added_->split(token, false, &s);
  if (s.size() == 1 && s[0].id >= 0 && s[0].begin == 0 && s[0].end == token.size() &&
      id_to_token_[s[0].id] == token) {
    return s[0].id;
  }
  return model_->token_to_id(token);
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || id >= vocab_size() || !has_token_[id]) return std::nullopt;
  return id_to_token_[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

}  // namespace mlxm
