// The weight mapping of load_weights (HF/MLX tensor names -> a decoder's linears, norms and
// embedding, every tensor checked against the config), generic over the linear type so the CPU
// engine (PackedLinear::pack) and the CUDA engine (cuda::CudaLinear::upload) share it.
// Template implementation: include only where a linear type is instantiated.
#pragma once

#include <algorithm>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "engine/loader/weights.h"

namespace mlxm::engine {
namespace weights_detail {

inline std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

inline bool is_float(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16;
}

// Reads tensors by name, remembering which ones were used.
class Reader {
 public:
  Reader(const ModelConfig& c, const TensorStore& s) : config_(c), store_(s) {}

  Result<const TensorView*> get(const std::string& name, std::vector<int64_t> shape) {
    const TensorView* v = store_.find(name);
    if (v == nullptr) return not_found("tensor '" + name + "' is missing from the model files");
    used_.insert(name);
    if (v->shape() != shape) {
      return invalid_argument(*v->file + ": tensor '" + name + "' has shape " +
                              shape_str(v->shape()) + ", config.json implies " + shape_str(shape));
    }
    return v;
  }
  const TensorView* find(const std::string& name) const { return store_.find(name); }
  // Releases the mapped pages of the tensors of `path` once packed.
  void release(const std::string& path) const {
    for (const char* suffix : {".weight", ".scales", ".biases", ".bias"}) {
      if (const TensorView* v = store_.find(path + suffix)) store_.release(*v);
    }
  }
  void mark_used(const std::string& name) { used_.insert(name); }

  Result<std::vector<float>> vec(const std::string& name, int64_t n) {
    MLXM_ASSIGN_OR_RETURN(const TensorView* v, get(name, {n}));
    if (!is_float(v->dtype())) {
      return invalid_argument(*v->file + ": tensor '" + name + "' has dtype " +
                              dtype_name(v->dtype()) + " (want F32, F16 or BF16)");
    }
    std::vector<float> out(static_cast<size_t>(n));
    to_f32(v->dtype(), v->data, out.data(), static_cast<size_t>(n));
    return out;
  }

  // A linear layer `path` of shape (n_out, n_in): dense `.weight`, or MLX affine
  // `.weight` (u32) + `.scales` + `.biases`; optional `.bias` (n_out).
  Result<LinearSource> linear(const std::string& path, int64_t n_out, int64_t n_in, bool bias) {
    LinearSource s;
    s.n_out = n_out;
    s.n_in = n_in;
    const std::string wname = path + ".weight";
    const TensorView* sc = store_.find(path + ".scales");
    if (sc != nullptr) {
      const QuantConfig q = config_.quant_for(path);
      if (q.bits == 0) {
        return invalid_argument("tensor '" + path +
                                ".scales' exists but config.json does not "
                                "quantize '" +
                                path + "'");
      }
      if (n_in % q.group_size != 0 || (n_in * q.bits) % 32 != 0) {
        return invalid_argument("'" + path + "': " + std::to_string(n_in) +
                                " inputs do not split into groups of " +
                                std::to_string(q.group_size));
      }
      s.bits = q.bits;
      s.group_size = q.group_size;
      MLXM_ASSIGN_OR_RETURN(const TensorView* w, get(wname, {n_out, n_in * q.bits / 32}));
      if (w->dtype() != DType::kU32) {
        return invalid_argument(*w->file + ": quantized tensor '" + wname + "' has dtype " +
                                dtype_name(w->dtype()) + " (want U32)");
      }
      MLXM_ASSIGN_OR_RETURN(const TensorView* scv,
                            get(path + ".scales", {n_out, n_in / q.group_size}));
      MLXM_ASSIGN_OR_RETURN(const TensorView* bi,
                            get(path + ".biases", {n_out, n_in / q.group_size}));
      if (!is_float(scv->dtype()) || bi->dtype() != scv->dtype()) {
        return invalid_argument(*scv->file + ": '" + path + "' scales/biases have dtypes " +
                                dtype_name(scv->dtype()) + "/" + dtype_name(bi->dtype()) +
                                " (want one of F32, F16, BF16 for both)");
      }
      s.dtype = scv->dtype();
      s.weight = w->data;
      s.scales = scv->data;
      s.biases = bi->data;
    } else {
      MLXM_ASSIGN_OR_RETURN(const TensorView* w, get(wname, {n_out, n_in}));
      if (!is_float(w->dtype())) {
        return invalid_argument(
            *w->file + ": tensor '" + wname + "' has dtype " + dtype_name(w->dtype()) +
            (w->dtype() == DType::kU32 ? " but no '.scales' (quantized without scales?)"
                                       : " (want F32, F16 or BF16)"));
      }
      s.dtype = w->dtype();
      s.weight = w->data;
    }
    if (bias) {
      MLXM_ASSIGN_OR_RETURN(const TensorView* b, get(path + ".bias", {n_out}));
      if (b->dtype() != s.dtype) {
        // Keep one dtype per LinearSource: convert the bias into an owned buffer.
        if (!is_float(b->dtype())) {
          return invalid_argument(*b->file + ": tensor '" + path + ".bias' has dtype " +
                                  dtype_name(b->dtype()));
        }
        owned_.emplace_back(static_cast<size_t>(n_out) * dtype_size(s.dtype));
        std::vector<float> f(static_cast<size_t>(n_out));
        to_f32(b->dtype(), b->data, f.data(), f.size());
        auto* dst = owned_.back().data();
        for (int64_t i = 0; i < n_out; ++i) {
          if (s.dtype == DType::kF32)
            std::memcpy(dst + i * 4, &f[i], 4);
          else {
            uint16_t h = s.dtype == DType::kBF16 ? f32_to_bf16(f[i]) : f32_to_f16(f[i]);
            std::memcpy(dst + i * 2, &h, 2);
          }
        }
        s.bias = dst;
      } else {
        s.bias = b->data;
      }
    }
    return s;
  }

  Status check_all_used() const {
    for (const auto& n : store_.names()) {
      if (used_.count(n)) continue;
      if (n.find("rotary_emb.inv_freq") != std::string::npos) continue;  // old HF checkpoints
      const TensorView* v = store_.find(n);
      return invalid_argument(*v->file + ": unexpected tensor '" + n + "' (not part of a " +
                              config_.architecture + " with " + std::to_string(config_.n_layers) +
                              " layers as config.json describes)");
    }
    return ok_status();
  }

 private:
  const ModelConfig& config_;
  const TensorStore& store_;
  std::set<std::string> used_;
  std::vector<std::vector<uint8_t>> owned_;
};

template <typename Linear, typename PackFn>
Result<Linear> pack(const PackFn& pack_fn, const LinearSource& s, const std::string& path) {
  Result<Linear> r = pack_fn(s);
  if (!r.ok()) return r.status().with_context("packing '" + path + "'");
  return r;
}

inline bool same_format(const std::vector<LinearSource>& parts) {
  for (const auto& p : parts) {
    if (p.bits != parts[0].bits || p.group_size != parts[0].group_size ||
        p.dtype != parts[0].dtype || p.n_in != parts[0].n_in ||
        (p.bias != nullptr) != (parts[0].bias != nullptr)) {
      return false;
    }
  }
  return true;
}

// Concatenates the rows of same-format sources and packs them as one linear.
template <typename Linear, typename PackFn>
Result<Linear> pack_fused(const PackFn& pack_fn, const std::vector<LinearSource>& parts,
                          const std::string& what) {
  const LinearSource& p0 = parts[0];
  const size_t es = dtype_size(p0.dtype);
  const bool quant = p0.bits != 0;
  std::vector<uint8_t> w, sc, bi, b;
  int64_t n_out = 0;
  for (const auto& p : parts) {
    const size_t rows = static_cast<size_t>(p.n_out);
    const size_t wrow =
        quant ? static_cast<size_t>(p.n_in * p.bits / 32) * 4 : static_cast<size_t>(p.n_in) * es;
    const auto* wp = static_cast<const uint8_t*>(p.weight);
    w.insert(w.end(), wp, wp + rows * wrow);
    if (quant) {
      const size_t srow = static_cast<size_t>(p.n_in / p.group_size) * es;
      const auto* sp = static_cast<const uint8_t*>(p.scales);
      const auto* bp = static_cast<const uint8_t*>(p.biases);
      sc.insert(sc.end(), sp, sp + rows * srow);
      bi.insert(bi.end(), bp, bp + rows * srow);
    }
    if (p.bias != nullptr) {
      const auto* bp = static_cast<const uint8_t*>(p.bias);
      b.insert(b.end(), bp, bp + rows * es);
    }
    n_out += p.n_out;
  }
  LinearSource s = p0;
  s.n_out = n_out;
  s.weight = w.data();
  s.scales = quant ? sc.data() : nullptr;
  s.biases = quant ? bi.data() : nullptr;
  s.bias = b.empty() ? nullptr : b.data();
  return pack<Linear>(pack_fn, s, what);
}

}  // namespace weights_detail

// Reads every weight of `c` from `store` and turns each linear into a Linear with
// pack_fn(const LinearSource&) -> Result<Linear> (the source's views are valid during the
// call only; each tensor's mapped pages are released once packed). Fused q/k/v and gate/up
// when their formats match. Errors name the tensor and file.
template <typename Linear, typename PackFn>
Result<BasicModelWeights<Linear>> load_weights_as(const ModelConfig& c, const TensorStore& store,
                                                  const PackFn& pack_fn) {
  using namespace weights_detail;
  Reader r(c, store);
  BasicModelWeights<Linear> m;
  const int64_t h = c.hidden_size, hd = c.head_dim, ff = c.intermediate_size;
  const int64_t q_out = int64_t{c.n_heads} * hd, kv_out = int64_t{c.n_kv_heads} * hd;
  {
    MLXM_ASSIGN_OR_RETURN(LinearSource s, r.linear("model.embed_tokens", c.vocab_size, h, false));
    MLXM_ASSIGN_OR_RETURN(m.embed, pack<Linear>(pack_fn, s, "model.embed_tokens"));
    r.release("model.embed_tokens");
  }
  m.layers.resize(static_cast<size_t>(c.n_layers));
  for (int l = 0; l < c.n_layers; ++l) {
    BasicLayerWeights<Linear>& L = m.layers[static_cast<size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    MLXM_ASSIGN_OR_RETURN(L.attn_norm, r.vec(p + "input_layernorm.weight", h));
    MLXM_ASSIGN_OR_RETURN(L.mlp_norm, r.vec(p + "post_attention_layernorm.weight", h));
    if (c.qk_norm) {
      MLXM_ASSIGN_OR_RETURN(L.q_norm, r.vec(p + "self_attn.q_norm.weight", hd));
      MLXM_ASSIGN_OR_RETURN(L.k_norm, r.vec(p + "self_attn.k_norm.weight", hd));
    }
    const bool qkv_bias = c.attention_bias;
    const bool o_bias = c.attention_bias && c.arch != Arch::kQwen2;
    MLXM_ASSIGN_OR_RETURN(LinearSource q, r.linear(p + "self_attn.q_proj", q_out, h, qkv_bias));
    MLXM_ASSIGN_OR_RETURN(LinearSource k, r.linear(p + "self_attn.k_proj", kv_out, h, qkv_bias));
    MLXM_ASSIGN_OR_RETURN(LinearSource v, r.linear(p + "self_attn.v_proj", kv_out, h, qkv_bias));
    if (same_format({q, k, v})) {
      L.fused_qkv = true;
      MLXM_ASSIGN_OR_RETURN(L.qkv, pack_fused<Linear>(pack_fn, {q, k, v}, p + "self_attn.qkv"));
    } else {
      MLXM_ASSIGN_OR_RETURN(L.q, pack<Linear>(pack_fn, q, p + "self_attn.q_proj"));
      MLXM_ASSIGN_OR_RETURN(L.k, pack<Linear>(pack_fn, k, p + "self_attn.k_proj"));
      MLXM_ASSIGN_OR_RETURN(L.v, pack<Linear>(pack_fn, v, p + "self_attn.v_proj"));
    }
    MLXM_ASSIGN_OR_RETURN(LinearSource o, r.linear(p + "self_attn.o_proj", h, q_out, o_bias));
    MLXM_ASSIGN_OR_RETURN(L.o, pack<Linear>(pack_fn, o, p + "self_attn.o_proj"));
    MLXM_ASSIGN_OR_RETURN(LinearSource g, r.linear(p + "mlp.gate_proj", ff, h, false));
    MLXM_ASSIGN_OR_RETURN(LinearSource u, r.linear(p + "mlp.up_proj", ff, h, false));
    if (same_format({g, u})) {
      L.fused_gate_up = true;
      MLXM_ASSIGN_OR_RETURN(L.gate_up, pack_fused<Linear>(pack_fn, {g, u}, p + "mlp.gate_up"));
    } else {
      MLXM_ASSIGN_OR_RETURN(L.gate, pack<Linear>(pack_fn, g, p + "mlp.gate_proj"));
      MLXM_ASSIGN_OR_RETURN(L.up, pack<Linear>(pack_fn, u, p + "mlp.up_proj"));
    }
    MLXM_ASSIGN_OR_RETURN(LinearSource d, r.linear(p + "mlp.down_proj", h, ff, false));
    MLXM_ASSIGN_OR_RETURN(L.down, pack<Linear>(pack_fn, d, p + "mlp.down_proj"));
    for (const char* mod : {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
                            "self_attn.o_proj", "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"}) {
      r.release(p + mod);
    }
  }
  MLXM_ASSIGN_OR_RETURN(m.final_norm, r.vec("model.norm.weight", h));
  m.tied = c.tie_word_embeddings;
  if (m.tied) {
    // Some exports keep a copy of the tied head: ignore it.
    for (const char* n : {"lm_head.weight", "lm_head.scales", "lm_head.biases"}) {
      if (r.find(n) != nullptr) r.mark_used(n);
    }
  } else {
    MLXM_ASSIGN_OR_RETURN(LinearSource s, r.linear("lm_head", c.vocab_size, h, false));
    MLXM_ASSIGN_OR_RETURN(m.lm_head, pack<Linear>(pack_fn, s, "lm_head"));
    r.release("lm_head");
  }
  MLXM_RETURN_IF_ERROR(r.check_all_used());
  return m;
}

}  // namespace mlxm::engine
