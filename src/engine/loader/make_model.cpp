#include "engine/loader/make_model.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "engine/loader/quantize.h"

namespace mlxm::engine {
namespace {

using nlohmann::json;
using nlohmann::ordered_json;
namespace fs = std::filesystem;

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t hash_name(const std::string& s) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Approximately N(0, 1): Irwin-Hall sum of four 16-bit uniforms, rescaled. Fast and good
// enough for dummy weights.
struct Rng {
  uint64_t s;
  explicit Rng(uint64_t seed) : s(seed) {}
  uint64_t next() { return s = splitmix64(s); }
  float normal() {
    const uint64_t r = next();
    const float sum =
        static_cast<float>((r & 0xffff) + ((r >> 16) & 0xffff) + ((r >> 32) & 0xffff) + (r >> 48)) *
        (1.0f / 65536.0f);
    return (sum - 2.0f) * 1.7320508f;  // var of U(0,1) = 1/12 -> sum of 4 has var 1/3
  }
};

float round_bf16(float x) {
  return bf16_to_f32(f32_to_bf16(x));
}
float round_f16(float x) {
  return f16_to_f32(f32_to_f16(x));
}

void store_floats(DType t, const float* src, int64_t n, uint8_t* dst) {
  if (t == DType::kF32) {
    std::memcpy(dst, src, static_cast<size_t>(n) * 4);
    return;
  }
  auto* d = reinterpret_cast<uint16_t*>(dst);
  for (int64_t i = 0; i < n; ++i)
    d[i] = t == DType::kBF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}

// One tensor to write: its bytes are produced by the module that owns it.
struct OutTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  uint64_t n_bytes = 0;
  int shard = 0;
  uint64_t offset = 0;  // within its shard's data section
};

// A module (linear, embedding, norm, bias) and how to generate it.
struct Module {
  std::string path;  // e.g. model.layers.0.self_attn.q_proj
  enum Kind { kLinear, kNorm, kBias } kind = kLinear;
  int64_t n_out = 0, n_in = 0;  // linear; norms and biases use n_in as length
  int bits = 0;
  int group = 0;
  std::vector<int> tensors;  // indices into the tensor list
};

struct Writer {
  std::vector<OutTensor> tensors;
  std::vector<Module> modules;

  int add_tensor(const std::string& name, DType dt, std::vector<int64_t> shape) {
    uint64_t n = dtype_size(dt);
    for (int64_t d : shape) n *= static_cast<uint64_t>(d);
    tensors.push_back({name, dt, std::move(shape), n, 0, 0});
    return static_cast<int>(tensors.size()) - 1;
  }
};

Status write_all(int fd, const void* p, size_t n, uint64_t off, const std::string& path) {
  const auto* c = static_cast<const uint8_t*>(p);
  while (n > 0) {
    ssize_t w = pwrite(fd, c, n, static_cast<off_t>(off));
    if (w < 0) {
      if (errno == EINTR) continue;
      return unavailable("write " + path + ": " + std::strerror(errno));
    }
    c += w;
    n -= static_cast<size_t>(w);
    off += static_cast<uint64_t>(w);
  }
  return ok_status();
}

// Fills rows [r0, r1) of a module into the output buffers (one per tensor of the module).
void gen_rows(const Module& m, const ModelSpec& spec, uint64_t tensor_seed, int64_t r0, int64_t r1,
              std::vector<std::vector<uint8_t>>& bufs) {
  std::vector<float> row(static_cast<size_t>(m.n_in));
  const int64_t n_groups = m.bits > 0 ? m.n_in / m.group : 0;
  std::vector<uint32_t> words(static_cast<size_t>(m.bits > 0 ? m.n_in * m.bits / 32 : 0));
  std::vector<float> sc(static_cast<size_t>(n_groups)), bi(static_cast<size_t>(n_groups));
  float (*rp)(float) = spec.dtype == DType::kBF16  ? round_bf16
                       : spec.dtype == DType::kF16 ? round_f16
                                                   : nullptr;
  const size_t es = dtype_size(spec.dtype);
  for (int64_t r = r0; r < r1; ++r) {
    Rng rng(splitmix64(tensor_seed + static_cast<uint64_t>(r)));
    for (auto& v : row) v = rng.normal() * spec.init_std;
    if (m.bits > 0) {
      quantize_affine_row(row.data(), m.n_in, m.bits, m.group, rp, words.data(), sc.data(),
                          bi.data());
      std::memcpy(bufs[0].data() + r * words.size() * 4, words.data(), words.size() * 4);
      store_floats(spec.dtype, sc.data(), n_groups, bufs[1].data() + r * n_groups * es);
      store_floats(spec.dtype, bi.data(), n_groups, bufs[2].data() + r * n_groups * es);
    } else {
      store_floats(spec.dtype, row.data(), m.n_in, bufs[0].data() + r * m.n_in * es);
    }
  }
}

Status write_module(const Module& m, const Writer& w, const ModelSpec& spec, uint64_t seed,
                    const std::vector<int>& fds, const std::vector<std::string>& paths,
                    const std::vector<uint64_t>& data_starts) {
  std::vector<std::vector<uint8_t>> bufs;
  for (int ti : m.tensors) bufs.emplace_back(static_cast<size_t>(w.tensors[ti].n_bytes));
  const uint64_t tseed = splitmix64(seed ^ hash_name(m.path));
  if (m.kind == Module::kLinear) {
    const int n_thr =
        std::max(1, std::min<int>(4, static_cast<int>(std::thread::hardware_concurrency())));
    std::vector<std::thread> threads;
    for (int t = 0; t < n_thr; ++t) {
      const int64_t r0 = m.n_out * t / n_thr, r1 = m.n_out * (t + 1) / n_thr;
      threads.emplace_back([&, r0, r1] { gen_rows(m, spec, tseed, r0, r1, bufs); });
    }
    for (auto& th : threads) th.join();
  } else {
    std::vector<float> v(static_cast<size_t>(m.n_in));
    Rng rng(tseed);
    for (auto& x : v) {
      if (m.kind == Module::kNorm) {
        x = spec.random_norms ? 1.0f + 0.1f * rng.normal() : 1.0f;
      } else {
        x = spec.bias_std * rng.normal();
      }
    }
    store_floats(spec.dtype, v.data(), m.n_in, bufs[0].data());
  }
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const OutTensor& t = w.tensors[m.tensors[i]];
    MLXM_RETURN_IF_ERROR(write_all(fds[t.shard], bufs[i].data(), bufs[i].size(),
                                   data_starts[t.shard] + t.offset, paths[t.shard]));
  }
  return ok_status();
}

const char* dtype_config_name(DType t) {
  switch (t) {
    case DType::kBF16: return "bfloat16";
    case DType::kF16: return "float16";
    default: return "float32";
  }
}

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found("cannot open " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Token id of a special token named in tokenizer_config.json (string or {content}).
std::optional<int> special_id(const json& tok_cfg, const char* key, const json& tok) {
  auto it = tok_cfg.find(key);
  if (it == tok_cfg.end()) return std::nullopt;
  std::string content;
  if (it->is_string())
    content = it->get<std::string>();
  else if (it->is_object() && it->contains("content") && (*it)["content"].is_string())
    content = (*it)["content"];
  if (content.empty()) return std::nullopt;
  if (auto a = tok.find("added_tokens"); a != tok.end() && a->is_array()) {
    for (const auto& t : *a) {
      if (t.is_object() && t.value("content", "") == content && t.contains("id") &&
          t["id"].is_number_integer()) {
        return t["id"].get<int>();
      }
    }
  }
  if (auto m = tok.find("model"); m != tok.end() && m->is_object()) {
    if (auto v = m->find("vocab"); v != m->end() && v->is_object() && v->contains(content)) {
      const auto& id = (*v)[content];
      if (id.is_number_integer()) return id.get<int>();
    }
  }
  return std::nullopt;
}

}  // namespace

Result<ModelSpec> model_spec_for_shape(const std::string& shape) {
  ModelSpec s;
  RopeScaling llama3;
  llama3.type = "llama3";
  llama3.factor = 32.0;
  llama3.low_freq_factor = 1.0;
  llama3.high_freq_factor = 4.0;
  llama3.original_max_position_embeddings = 8192;
  if (shape == "tiny") {
    s.rope_scaling = llama3;
    s.rope_scaling.factor = 8.0;
    return s;
  }
  if (shape == "llama-3.2-1b" || shape == "llama-3.2-3b" || shape == "llama-3.1-8b") {
    s.rope_scaling = llama3;
    s.max_position_embeddings = 131072;
    s.rope_theta = 500000.0;
    s.n_kv_heads = 8;
    if (shape == "llama-3.2-1b") {
      s.hidden_size = 2048, s.n_layers = 16, s.n_heads = 32, s.head_dim = 64;
      s.intermediate_size = 8192, s.tie_word_embeddings = true;
    } else if (shape == "llama-3.2-3b") {
      s.hidden_size = 3072, s.n_layers = 28, s.n_heads = 24, s.head_dim = 128;
      s.intermediate_size = 8192, s.tie_word_embeddings = true;
    } else {
      s.hidden_size = 4096, s.n_layers = 32, s.n_heads = 32, s.head_dim = 128;
      s.intermediate_size = 14336, s.tie_word_embeddings = false;
      s.rope_scaling.factor = 8.0;
    }
    return s;
  }
  if (shape == "qwen3-0.6b" || shape == "qwen3-8b") {
    s.architecture = "Qwen3ForCausalLM";
    s.rope_theta = 1000000.0;
    s.rms_norm_eps = 1e-6;
    s.max_position_embeddings = 40960;
    s.n_kv_heads = 8, s.head_dim = 128;
    if (shape == "qwen3-0.6b") {
      s.hidden_size = 1024, s.n_layers = 28, s.n_heads = 16, s.intermediate_size = 3072;
      s.tie_word_embeddings = true;
    } else {
      s.hidden_size = 4096, s.n_layers = 36, s.n_heads = 32, s.intermediate_size = 12288;
      s.tie_word_embeddings = false;
    }
    return s;
  }
  return invalid_argument(
      "unknown shape '" + shape +
      "' (tiny, llama-3.2-1b, llama-3.2-3b, llama-3.1-8b, qwen3-0.6b, qwen3-8b)");
}

Result<int> tokenizer_vocab_size(const std::string& path) {
  MLXM_ASSIGN_OR_RETURN(std::string text, read_text(path));
  int64_t max_id = -1;
  try {
    json j = json::parse(text);
    auto model = j.find("model");
    if (model == j.end() || !model->is_object())
      return invalid_argument(path + ": no 'model' object");
    auto vocab = model->find("vocab");
    if (vocab != model->end() && vocab->is_object()) {
      for (const auto& [_, id] : vocab->items()) {
        if (id.is_number_integer()) max_id = std::max<int64_t>(max_id, id.get<int64_t>());
      }
    } else if (vocab != model->end() && vocab->is_array()) {  // Unigram: [[piece, score], ...]
      max_id = static_cast<int64_t>(vocab->size()) - 1;
    } else {
      return invalid_argument(path + ": model.vocab is missing");
    }
    if (auto a = j.find("added_tokens"); a != j.end() && a->is_array()) {
      for (const auto& t : *a) {
        if (t.is_object() && t.contains("id") && t["id"].is_number_integer()) {
          max_id = std::max<int64_t>(max_id, t["id"].get<int64_t>());
        }
      }
    }
  } catch (const json::exception& e) {
    return invalid_argument(path + ": malformed JSON: " + e.what());
  }
  if (max_id < 0 || max_id >= (1 << 30)) return invalid_argument(path + ": no usable vocabulary");
  return static_cast<int>(max_id + 1);
}

Status make_model(const ModelSpec& spec_in, const std::string& tokenizer_dir,
                  const std::string& out_dir, uint64_t seed) {
  ModelSpec spec = spec_in;
  if (spec.head_dim == 0) spec.head_dim = spec.hidden_size / std::max(1, spec.n_heads);
  json tok_json, tok_cfg;
  if (!tokenizer_dir.empty()) {
    const std::string tj = tokenizer_dir + "/tokenizer.json";
    MLXM_ASSIGN_OR_RETURN(int vocab, tokenizer_vocab_size(tj));
    if (spec.vocab_size == 0) spec.vocab_size = vocab;
    MLXM_ASSIGN_OR_RETURN(std::string t, read_text(tj));
    tok_json = json::parse(t, nullptr, false);
    if (auto c = read_text(tokenizer_dir + "/tokenizer_config.json"); c.ok()) {
      tok_cfg = json::parse(c.value(), nullptr, false);
      if (tok_cfg.is_discarded()) tok_cfg = json::object();
    }
    if (tok_cfg.is_object() && tok_json.is_object()) {
      if (!spec.bos_token_id) spec.bos_token_id = special_id(tok_cfg, "bos_token", tok_json);
      if (spec.eos_token_ids.empty()) {
        if (auto e = special_id(tok_cfg, "eos_token", tok_json)) spec.eos_token_ids.push_back(*e);
      }
    }
  }
  if (spec.vocab_size <= 0)
    return invalid_argument("make-model: vocabulary size unknown (give a tokenizer)");
  if (spec.hidden_size <= 0 || spec.n_layers <= 0 || spec.n_heads <= 0 || spec.n_kv_heads <= 0 ||
      spec.n_heads % spec.n_kv_heads != 0 || spec.intermediate_size <= 0 ||
      spec.head_dim % 2 != 0) {
    return invalid_argument("make-model: inconsistent shape");
  }
  const bool qwen2 = spec.architecture == "Qwen2ForCausalLM";
  const bool qwen3 = spec.architecture == "Qwen3ForCausalLM";

  Writer w;
  auto bits_for = [&](const std::string& path) {
    auto it = spec.bits_overrides.find(path);
    return it != spec.bits_overrides.end() ? it->second : spec.bits;
  };
  auto add_linear = [&](const std::string& path, int64_t n_out, int64_t n_in) -> Status {
    Module m;
    m.path = path;
    m.kind = Module::kLinear;
    m.n_out = n_out, m.n_in = n_in;
    m.bits = bits_for(path);
    m.group = spec.group_size;
    if (m.bits > 0) {
      if (n_in % m.group != 0 || (n_in * m.bits) % 32 != 0) {
        return invalid_argument("make-model: " + path + " has " + std::to_string(n_in) +
                                " inputs, not a multiple of group size " + std::to_string(m.group));
      }
      m.tensors.push_back(w.add_tensor(path + ".weight", DType::kU32, {n_out, n_in * m.bits / 32}));
      m.tensors.push_back(w.add_tensor(path + ".scales", spec.dtype, {n_out, n_in / m.group}));
      m.tensors.push_back(w.add_tensor(path + ".biases", spec.dtype, {n_out, n_in / m.group}));
    } else {
      m.tensors.push_back(w.add_tensor(path + ".weight", spec.dtype, {n_out, n_in}));
    }
    w.modules.push_back(std::move(m));
    return ok_status();
  };
  auto add_vec = [&](const std::string& name, int64_t n, Module::Kind kind) {
    Module m;
    m.path = name;
    m.kind = kind;
    m.n_in = n;
    m.tensors.push_back(w.add_tensor(name, spec.dtype, {n}));
    w.modules.push_back(std::move(m));
  };
  const int64_t hd = spec.head_dim, q_out = int64_t{spec.n_heads} * hd,
                kv_out = int64_t{spec.n_kv_heads} * hd;
  MLXM_RETURN_IF_ERROR(add_linear("model.embed_tokens", spec.vocab_size, spec.hidden_size));
  for (int l = 0; l < spec.n_layers; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    add_vec(p + "input_layernorm.weight", spec.hidden_size, Module::kNorm);
    add_vec(p + "post_attention_layernorm.weight", spec.hidden_size, Module::kNorm);
    MLXM_RETURN_IF_ERROR(add_linear(p + "self_attn.q_proj", q_out, spec.hidden_size));
    MLXM_RETURN_IF_ERROR(add_linear(p + "self_attn.k_proj", kv_out, spec.hidden_size));
    MLXM_RETURN_IF_ERROR(add_linear(p + "self_attn.v_proj", kv_out, spec.hidden_size));
    MLXM_RETURN_IF_ERROR(add_linear(p + "self_attn.o_proj", spec.hidden_size, q_out));
    if (qwen2) {
      add_vec(p + "self_attn.q_proj.bias", q_out, Module::kBias);
      add_vec(p + "self_attn.k_proj.bias", kv_out, Module::kBias);
      add_vec(p + "self_attn.v_proj.bias", kv_out, Module::kBias);
    }
    if (qwen3) {
      add_vec(p + "self_attn.q_norm.weight", hd, Module::kNorm);
      add_vec(p + "self_attn.k_norm.weight", hd, Module::kNorm);
    }
    MLXM_RETURN_IF_ERROR(add_linear(p + "mlp.gate_proj", spec.intermediate_size, spec.hidden_size));
    MLXM_RETURN_IF_ERROR(add_linear(p + "mlp.up_proj", spec.intermediate_size, spec.hidden_size));
    MLXM_RETURN_IF_ERROR(add_linear(p + "mlp.down_proj", spec.hidden_size, spec.intermediate_size));
  }
  add_vec("model.norm.weight", spec.hidden_size, Module::kNorm);
  if (!spec.tie_word_embeddings) {
    MLXM_RETURN_IF_ERROR(add_linear("lm_head", spec.vocab_size, spec.hidden_size));
  }

  // Lay out tensors (sorted by name, as the safetensors library writes) into shards.
  std::vector<int> order(w.tensors.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<int>(i);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return w.tensors[a].name < w.tensors[b].name; });
  uint64_t total = 0;
  for (const auto& t : w.tensors) total += t.n_bytes;
  std::vector<uint64_t> shard_size(1, 0);
  for (int i : order) {
    OutTensor& t = w.tensors[i];
    if (total > spec.shard_bytes && shard_size.back() > 0 &&
        shard_size.back() + t.n_bytes > spec.shard_bytes) {
      shard_size.push_back(0);
    }
    t.shard = static_cast<int>(shard_size.size()) - 1;
    t.offset = shard_size.back();
    shard_size.back() += t.n_bytes;
  }
  const int n_shards = static_cast<int>(shard_size.size());

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return unavailable("cannot create " + out_dir + ": " + ec.message());
  std::vector<std::string> names, paths;
  std::vector<int> fds;
  std::vector<uint64_t> data_starts;
  auto close_all = [&] {
    for (int fd : fds) ::close(fd);
  };
  for (int s = 0; s < n_shards; ++s) {
    char buf[64];
    if (n_shards == 1) {
      std::snprintf(buf, sizeof buf, "model.safetensors");
    } else {
      std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, n_shards);
    }
    names.push_back(buf);
    paths.push_back(out_dir + "/" + buf);
    json h = json::object();
    h["__metadata__"] = {{"format", "mlx"}};
    for (int i : order) {
      const OutTensor& t = w.tensors[i];
      if (t.shard != s) continue;
      h[t.name] = {{"dtype", dtype_name(t.dtype)},
                   {"shape", t.shape},
                   {"data_offsets", {t.offset, t.offset + t.n_bytes}}};
    }
    std::string text = h.dump();
    while ((text.size() + 8) % 8 != 0) text.push_back(' ');
    int fd = ::open(paths.back().c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
      close_all();
      return unavailable("cannot create " + paths.back() + ": " + std::strerror(errno));
    }
    fds.push_back(fd);
    uint8_t len[8];
    uint64_t n = text.size();
    for (int b = 0; b < 8; ++b) len[b] = static_cast<uint8_t>(n >> (8 * b));
    Status st = write_all(fd, len, 8, 0, paths.back());
    if (st.ok()) st = write_all(fd, text.data(), text.size(), 8, paths.back());
    if (!st.ok()) {
      close_all();
      return st;
    }
    data_starts.push_back(8 + n);
  }
  for (const Module& m : w.modules) {
    Status st = write_module(m, w, spec, seed, fds, paths, data_starts);
    if (!st.ok()) {
      close_all();
      return st;
    }
  }
  close_all();
  if (n_shards > 1) {
    ordered_json idx;
    idx["metadata"] = {{"total_size", total}};
    idx["weight_map"] = ordered_json::object();
    for (int i : order) idx["weight_map"][w.tensors[i].name] = names[w.tensors[i].shard];
    std::ofstream(out_dir + "/model.safetensors.index.json") << idx.dump(2);
  }

  ordered_json c;
  c["architectures"] = {spec.architecture};
  c["model_type"] = qwen3                                       ? "qwen3"
                    : qwen2                                     ? "qwen2"
                    : spec.architecture == "MistralForCausalLM" ? "mistral"
                                                                : "llama";
  c["hidden_size"] = spec.hidden_size;
  c["num_hidden_layers"] = spec.n_layers;
  c["num_attention_heads"] = spec.n_heads;
  c["num_key_value_heads"] = spec.n_kv_heads;
  c["head_dim"] = spec.head_dim;
  c["intermediate_size"] = spec.intermediate_size;
  c["vocab_size"] = spec.vocab_size;
  c["rms_norm_eps"] = spec.rms_norm_eps;
  c["rope_theta"] = spec.rope_theta;
  if (!spec.rope_scaling.type.empty()) {
    ordered_json r;
    r["rope_type"] = spec.rope_scaling.type;
    r["factor"] = spec.rope_scaling.factor;
    if (spec.rope_scaling.type == "llama3") {
      r["low_freq_factor"] = spec.rope_scaling.low_freq_factor;
      r["high_freq_factor"] = spec.rope_scaling.high_freq_factor;
      r["original_max_position_embeddings"] = spec.rope_scaling.original_max_position_embeddings;
    }
    c["rope_scaling"] = r;
  } else {
    c["rope_scaling"] = nullptr;
  }
  c["max_position_embeddings"] = spec.max_position_embeddings;
  c["tie_word_embeddings"] = spec.tie_word_embeddings;
  c["hidden_act"] = "silu";
  c["attention_bias"] = qwen2;
  if (spec.bos_token_id) c["bos_token_id"] = *spec.bos_token_id;
  if (spec.eos_token_ids.size() == 1)
    c["eos_token_id"] = spec.eos_token_ids[0];
  else if (!spec.eos_token_ids.empty())
    c["eos_token_id"] = spec.eos_token_ids;
  c["torch_dtype"] = dtype_config_name(spec.dtype);
  if (spec.bits > 0 || !spec.bits_overrides.empty()) {
    ordered_json q;
    q["group_size"] = spec.group_size;
    q["bits"] = spec.bits > 0 ? spec.bits : 4;
    for (const auto& [path, b] : spec.bits_overrides) {
      if (b == 0)
        q[path] = false;
      else
        q[path] = {{"group_size", spec.group_size}, {"bits", b}};
    }
    c["quantization"] = q;
    c["quantization_config"] = q;
  }
  {
    std::ofstream out(out_dir + "/config.json");
    out << c.dump(2) << "\n";
    if (!out) return unavailable("cannot write " + out_dir + "/config.json");
  }
  if (!tokenizer_dir.empty()) {
    for (const char* f : {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                          "chat_template.jinja", "generation_config.json"}) {
      const fs::path src = fs::path(tokenizer_dir) / f;
      if (!fs::exists(src, ec)) continue;
      fs::copy_file(src, fs::path(out_dir) / f, fs::copy_options::overwrite_existing, ec);
      if (ec) return unavailable("cannot copy " + src.string() + ": " + ec.message());
    }
  }
  return ok_status();
}

}  // namespace mlxm::engine
