// config.json (HF / MLX layout) -> ModelConfig.
#include "engine/model_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace mlxm::engine {
namespace {

using nlohmann::json;

Status field_error(const std::string& key, const std::string& why) {
  return invalid_argument("config.json: field '" + key + "' " + why);
}

// Reads an integer field; missing => fallback (or error if required).
Status get_int(const json& j, const std::string& key, int* out, bool required, int64_t min_v,
               int64_t max_v = 1ll << 31) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return field_error(key, "is missing");
    return ok_status();
  }
  if (!it->is_number_integer() && !it->is_number_unsigned()) {
    // Some configs write integers as 4096.0.
    if (it->is_number_float()) {
      double d = it->get<double>();
      if (d != static_cast<double>(static_cast<int64_t>(d)))
        return field_error(key, "is not an integer");
      int64_t v = static_cast<int64_t>(d);
      if (v < min_v || v >= max_v) return field_error(key, "is out of range");
      *out = static_cast<int>(v);
      return ok_status();
    }
    return field_error(key, "is not an integer");
  }
  if (it->is_number_unsigned() && it->get<uint64_t>() >= static_cast<uint64_t>(max_v)) {
    return field_error(key, "is out of range");
  }
  int64_t v = it->get<int64_t>();
  if (v < min_v || v >= max_v) return field_error(key, "is out of range");
  *out = static_cast<int>(v);
  return ok_status();
}

Status get_double(const json& j, const std::string& key, double* out, double min_v) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return ok_status();
  if (!it->is_number()) return field_error(key, "is not a number");
  double v = it->get<double>();
  if (!(v >= min_v) || !std::isfinite(v)) return field_error(key, "is out of range");
  *out = v;
  return ok_status();
}

Status get_bool(const json& j, const std::string& key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return ok_status();
  if (!it->is_boolean()) return field_error(key, "is not a boolean");
  *out = it->get<bool>();
  return ok_status();
}

bool valid_bits(int b) {
  return b == 2 || b == 3 || b == 4 || b == 5 || b == 6 || b == 8;
}
bool valid_group(int g) {
  return g == 32 || g == 64 || g == 128;
}

Status parse_quant_entry(const std::string& where, const json& q, QuantConfig* out) {
  if (!q.is_object()) return invalid_argument("config.json: " + where + " is not an object");
  int bits = 0, group = 0;
  MLXM_RETURN_IF_ERROR(get_int(q, "bits", &bits, true, 1, 64).with_context(where));
  MLXM_RETURN_IF_ERROR(get_int(q, "group_size", &group, true, 1, 1 << 20).with_context(where));
  if (!valid_bits(bits)) {
    return unimplemented("config.json: " + where + ": " + std::to_string(bits) +
                         "-bit quantization is not supported (affine bits 2,3,4,5,6,8)");
  }
  if (!valid_group(group)) {
    return unimplemented("config.json: " + where + ": group_size " + std::to_string(group) +
                         " is not supported (32, 64, 128)");
  }
  out->bits = bits;
  out->group_size = group;
  return ok_status();
}

Status parse_quantization(const json& q, ModelConfig* c) {
  if (!q.is_object()) return invalid_argument("config.json: 'quantization' is not an object");
  if (auto m = q.find("mode"); m != q.end() && !m->is_null()) {
    if (!m->is_string()) return field_error("quantization.mode", "is not a string");
    const std::string mode = m->get<std::string>();
    if (mode != "affine") {
      return unimplemented("config.json: quantization mode '" + mode +
                           "' is not supported (only 'affine')");
    }
  }
  MLXM_RETURN_IF_ERROR(parse_quant_entry("quantization", q, &c->quant));
  for (auto it = q.begin(); it != q.end(); ++it) {
    const std::string& key = it.key();
    if (key == "bits" || key == "group_size" || key == "mode") continue;
    if (it->is_boolean()) {
      if (!it->get<bool>()) {
        c->quant_overrides[key] = QuantConfig{};  // not quantized
      } else {
        c->quant_overrides[key] = c->quant;
      }
      continue;
    }
    if (it->is_object()) {
      if (auto m = it->find("mode"); m != it->end() && m->is_string() && *m != "affine") {
        return unimplemented("config.json: quantization mode '" + m->get<std::string>() +
                             "' of module '" + key + "' is not supported (only 'affine')");
      }
      QuantConfig qc;
      MLXM_RETURN_IF_ERROR(parse_quant_entry("quantization['" + key + "']", *it, &qc));
      c->quant_overrides[key] = qc;
      continue;
    }
    // Unknown scalar keys (e.g. future options) are ignored.
  }
  return ok_status();
}

Status parse_rope_scaling(const json& r, ModelConfig* c) {
  if (r.is_null()) return ok_status();
  if (!r.is_object()) return invalid_argument("config.json: 'rope_scaling' is not an object");
  std::string type;
  for (const char* k : {"rope_type", "type"}) {
    if (auto it = r.find(k); it != r.end() && it->is_string()) {
      type = it->get<std::string>();
      break;
    }
  }
  if (type.empty() || type == "default") return ok_status();
  RopeScaling& s = c->rope_scaling;
  if (type == "linear") {
    s.type = type;
    MLXM_RETURN_IF_ERROR(get_double(r, "factor", &s.factor, 1e-9));
    return ok_status();
  }
  if (type == "llama3") {
    s.type = type;
    for (const char* k :
         {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
      if (!r.contains(k)) return field_error(std::string("rope_scaling.") + k, "is missing");
    }
    MLXM_RETURN_IF_ERROR(get_double(r, "factor", &s.factor, 1e-9));
    MLXM_RETURN_IF_ERROR(get_double(r, "low_freq_factor", &s.low_freq_factor, 1e-9));
    MLXM_RETURN_IF_ERROR(get_double(r, "high_freq_factor", &s.high_freq_factor, 1e-9));
    MLXM_RETURN_IF_ERROR(get_int(r, "original_max_position_embeddings",
                                 &s.original_max_position_embeddings, true, 1));
    if (!(s.high_freq_factor > s.low_freq_factor)) {
      return invalid_argument(
          "config.json: rope_scaling high_freq_factor must exceed low_freq_factor");
    }
    return ok_status();
  }
  return unimplemented("config.json: rope_scaling type '" + type +
                       "' is not supported (llama3, linear)");
}

Status parse_token_ids(const json& j, const std::string& key, std::vector<int>* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return ok_status();
  auto one = [&](const json& v) -> Status {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > (1ll << 31) - 1) {
      return field_error(key, "holds a value that is not a token id");
    }
    out->push_back(static_cast<int>(v.get<int64_t>()));
    return ok_status();
  };
  if (it->is_array()) {
    for (const auto& v : *it) MLXM_RETURN_IF_ERROR(one(v));
    return ok_status();
  }
  return one(*it);
}

Status parse_impl(const json& j, ModelConfig* c) {
  if (!j.is_object()) return invalid_argument("config.json: not a JSON object");
  auto archs = j.find("architectures");
  if (archs == j.end() || !archs->is_array() || archs->empty() || !(*archs)[0].is_string()) {
    return invalid_argument("config.json: 'architectures' is missing or not a list of names");
  }
  c->architecture = (*archs)[0].get<std::string>();
  if (c->architecture == "LlamaForCausalLM") {
    c->arch = Arch::kLlama;
  } else if (c->architecture == "MistralForCausalLM") {
    c->arch = Arch::kMistral;
  } else if (c->architecture == "Qwen2ForCausalLM") {
    c->arch = Arch::kQwen2;
    c->attention_bias = true;
  } else if (c->architecture == "Qwen3ForCausalLM") {
    c->arch = Arch::kQwen3;
    c->qk_norm = true;
  } else {
    return unimplemented("config.json: architecture '" + c->architecture +
                         "' is not supported (LlamaForCausalLM, MistralForCausalLM, "
                         "Qwen2ForCausalLM, Qwen3ForCausalLM)");
  }
  MLXM_RETURN_IF_ERROR(get_int(j, "hidden_size", &c->hidden_size, true, 1));
  MLXM_RETURN_IF_ERROR(get_int(j, "num_hidden_layers", &c->n_layers, true, 1, 100000));
  MLXM_RETURN_IF_ERROR(get_int(j, "num_attention_heads", &c->n_heads, true, 1, 100000));
  c->n_kv_heads = c->n_heads;
  MLXM_RETURN_IF_ERROR(get_int(j, "num_key_value_heads", &c->n_kv_heads, false, 1, 100000));
  MLXM_RETURN_IF_ERROR(get_int(j, "intermediate_size", &c->intermediate_size, true, 1));
  MLXM_RETURN_IF_ERROR(get_int(j, "vocab_size", &c->vocab_size, true, 1));
  if (c->hidden_size % c->n_heads != 0 && !j.contains("head_dim")) {
    return invalid_argument("config.json: hidden_size is not a multiple of num_attention_heads");
  }
  c->head_dim = c->hidden_size / c->n_heads;
  MLXM_RETURN_IF_ERROR(get_int(j, "head_dim", &c->head_dim, false, 1, 1 << 16));
  if (c->head_dim % 2 != 0) return field_error("head_dim", "must be even (rotary embedding)");
  if (c->n_heads % c->n_kv_heads != 0) {
    return invalid_argument("config.json: num_attention_heads (" + std::to_string(c->n_heads) +
                            ") is not a multiple of num_key_value_heads (" +
                            std::to_string(c->n_kv_heads) + ")");
  }
  MLXM_RETURN_IF_ERROR(get_double(j, "rms_norm_eps", &c->rms_norm_eps, 0.0));
  MLXM_RETURN_IF_ERROR(get_double(j, "rope_theta", &c->rope_theta, 1e-9));
  MLXM_RETURN_IF_ERROR(
      get_int(j, "max_position_embeddings", &c->max_position_embeddings, false, 1));
  {
    int window = 0;
    MLXM_RETURN_IF_ERROR(get_int(j, "sliding_window", &window, false, 0));
    // Qwen configs carry a window that is off unless use_sliding_window is true.
    bool use_window = c->arch != Arch::kQwen2 && c->arch != Arch::kQwen3;
    MLXM_RETURN_IF_ERROR(get_bool(j, "use_sliding_window", &use_window));
    if (use_window && window > 0) {
      c->sliding_window = window;
      c->max_position_embeddings = std::min(c->max_position_embeddings, window);
    }
  }
  MLXM_RETURN_IF_ERROR(get_bool(j, "tie_word_embeddings", &c->tie_word_embeddings));
  if (c->arch != Arch::kQwen2)
    MLXM_RETURN_IF_ERROR(get_bool(j, "attention_bias", &c->attention_bias));
  bool mlp_bias = false;
  MLXM_RETURN_IF_ERROR(get_bool(j, "mlp_bias", &mlp_bias));
  if (mlp_bias) return unimplemented("config.json: mlp_bias=true is not supported");
  if (auto it = j.find("rope_scaling"); it != j.end()) {
    MLXM_RETURN_IF_ERROR(parse_rope_scaling(*it, c));
  }
  int bos = -1;
  MLXM_RETURN_IF_ERROR(get_int(j, "bos_token_id", &bos, false, 0));
  if (bos >= 0) c->bos_token_id = bos;
  MLXM_RETURN_IF_ERROR(parse_token_ids(j, "eos_token_id", &c->eos_token_ids));
  for (const char* k : {"torch_dtype", "dtype"}) {
    if (auto it = j.find(k); it != j.end() && it->is_string()) {
      c->torch_dtype = it->get<std::string>();
      break;
    }
  }
  // MLX writes `quantization` and (newer versions) the same block as `quantization_config`.
  for (const char* k : {"quantization", "quantization_config"}) {
    if (auto it = j.find(k); it != j.end() && !it->is_null()) {
      // A HF quantization_config of another method (e.g. gptq) has no group_size/bits pair.
      if (std::string(k) == "quantization_config" && it->is_object() &&
          it->contains("quant_method")) {
        return unimplemented("config.json: quantization_config with quant_method '" +
                             it->value("quant_method", std::string("?")) + "' is not supported");
      }
      MLXM_RETURN_IF_ERROR(parse_quantization(*it, c));
      break;
    }
  }
  return ok_status();
}

}  // namespace

QuantConfig ModelConfig::quant_for(const std::string& module_path) const {
  auto it = quant_overrides.find(module_path);
  if (it != quant_overrides.end()) return it->second;
  return quant;
}

Result<ModelConfig> ModelConfig::parse(const std::string& json_text) {
  ModelConfig c;
  try {
    json j = json::parse(json_text);
    MLXM_RETURN_IF_ERROR(parse_impl(j, &c));
  } catch (const json::exception& e) {
    return invalid_argument(std::string("config.json: malformed JSON: ") + e.what());
  }
  return c;
}

Result<ModelConfig> ModelConfig::load(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto r = parse(ss.str());
  if (!r.ok()) return r.status().with_context(path);
  return r;
}

}  // namespace mlxm::engine
