#!/usr/bin/env python3
"""Golden-logit fixtures for the engine tests (DESIGN.md section 7, issue 3 item 7).

Builds tiny random-weight models of each supported architecture, writes them in the Hugging
Face / MLX layout (config.json + model.safetensors), and stores the logits that Hugging Face
transformers computes for them (float64 on CPU, eager attention) for fixed prompts, plus a
greedy 32-token continuation:

    tests/engine/golden/<name>/config.json
    tests/engine/golden/<name>/model.safetensors
    tests/engine/golden/<name>/golden.json

Weights are stored as float32, bfloat16, or MLX affine-quantized (4/8 bits, group 32/64) with
scales/biases in bfloat16 or float16. The reference always runs on exactly the values our
engine reads: the bf16-rounded weights, or the DEQUANTIZED weights (scale * code + bias) of a
quantized model. Quantization is MLX's documented affine scheme, in numpy:

    per row, per group of G consecutive inputs:  scale = (max - min) / (2^bits - 1), bias = min
    (both rounded to the storage dtype first), code = clip(round((w - bias) / scale), 0, 2^bits-1)
    weight: uint32 (out, in*bits/32), codes as a little-endian bit stream per row
    (for 4 bits, code j of a word sits in bits [4j, 4j+4)); scales, biases: (out, in/G).

Linear layers, embed_tokens and (untied) lm_head are quantized; norms and biases are not.

Run (needs torch + transformers; the GPU machine has them; CPU is used, it takes ~a minute):
    python3 tools/reference/make_golden.py                 # writes tests/engine/golden/
    python3 tools/reference/make_golden.py --out DIR --only llama3_f32
Check the numpy parts without torch (quantizer, packing, safetensors writer, model files):
    python3 tools/reference/make_golden.py --self-test
    python3 tools/reference/make_golden.py --dry-run --out /tmp/golden   # no golden.json

Deterministic: every model's weights and prompts come from numpy's PCG64 seeded by the model's
index; transformers' own init is overwritten by load_state_dict (strict key check).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

GREEDY_TOKENS = 32
LOGIT_ROWS = 3          # logits stored for the last LOGIT_ROWS positions of each prompt
PROMPT_LENGTHS = [1, 4, 9, 17, 40]
GREEDY_CANDIDATES = 32  # prompts tried for the greedy case; the one with the widest margins wins
SIG_DIGITS = 7          # logits are stored rounded to this many significant digits


def die(msg):
    print(f"make_golden.py: error: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- models ------------------------------------------------------------------------------------

LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
               "high_freq_factor": 4.0, "original_max_position_embeddings": 64}
LINEAR_ROPE = {"type": "linear", "factor": 2.0}  # the older key spelling, as in Llama-2 finetunes

# name, arch, dims, vocab, tied, rope_theta, rope_scaling, storage (f32 | bf16 | qB_gG), scale dtype
MODELS = [
    dict(name="llama3_f32", arch="llama", hidden=64, heads=4, kv_heads=2, head_dim=16, inter=128,
         vocab=512, tied=False, theta=500000.0, rope=LLAMA3_ROPE, storage="f32"),
    dict(name="llama_linear_tied_bf16", arch="llama", hidden=64, heads=4, kv_heads=2, head_dim=16,
         inter=160, vocab=512, tied=True, theta=10000.0, rope=LINEAR_ROPE, storage="bf16"),
    dict(name="mistral_bf16", arch="mistral", hidden=64, heads=4, kv_heads=1, head_dim=16,
         inter=128, vocab=512, tied=False, theta=1000000.0, rope=None, storage="bf16"),
    dict(name="qwen2_f32", arch="qwen2", hidden=128, heads=8, kv_heads=2, head_dim=16, inter=256,
         vocab=768, tied=True, theta=1000000.0, rope=None, storage="f32"),
    dict(name="qwen3_bf16", arch="qwen3", hidden=64, heads=4, kv_heads=2, head_dim=32, inter=128,
         vocab=512, tied=True, theta=1000000.0, rope=None, storage="bf16"),
    dict(name="llama3_q4_g32", arch="llama", hidden=64, heads=4, kv_heads=2, head_dim=16,
         inter=128, vocab=512, tied=False, theta=500000.0, rope=LLAMA3_ROPE, storage="q4_g32",
         dtype="bfloat16"),
    dict(name="qwen3_q8_g64", arch="qwen3", hidden=64, heads=4, kv_heads=2, head_dim=32,
         inter=128, vocab=1000, tied=False, theta=1000000.0, rope=None, storage="q8_g64",
         dtype="bfloat16"),
    dict(name="qwen2_q4_g64", arch="qwen2", hidden=128, heads=8, kv_heads=2, head_dim=16,
         inter=256, vocab=768, tied=True, theta=1000000.0, rope=None, storage="q4_g64",
         dtype="float16"),
    dict(name="mistral_q8_g32", arch="mistral", hidden=64, heads=4, kv_heads=1, head_dim=16,
         inter=128, vocab=512, tied=False, theta=1000000.0, rope=None, storage="q8_g32",
         dtype="float16"),
]

ARCH_CLASS = {"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
              "qwen2": "Qwen2ForCausalLM", "qwen3": "Qwen3ForCausalLM"}


def storage_dtype(spec):
    s = spec["storage"]
    if s == "f32":
        return "float32"
    if s == "bf16":
        return "bfloat16"
    return spec["dtype"]


def quant_of(spec):
    s = spec["storage"]
    if not s.startswith("q"):
        return None
    bits, group = s[1:].split("_g")
    return {"group_size": int(group), "bits": int(bits)}


def hf_config(spec):
    """config.json as models on the hub write it (rope_theta + rope_scaling, torch_dtype)."""
    c = {
        "architectures": [ARCH_CLASS[spec["arch"]]],
        "model_type": spec["arch"],
        "hidden_size": spec["hidden"],
        "intermediate_size": spec["inter"],
        "num_hidden_layers": 2,
        "num_attention_heads": spec["heads"],
        "num_key_value_heads": spec["kv_heads"],
        "head_dim": spec["head_dim"],
        "hidden_act": "silu",
        "max_position_embeddings": 256,
        "rms_norm_eps": 1e-5 if spec["arch"] in ("llama", "mistral") else 1e-6,
        "rope_theta": spec["theta"],
        "rope_scaling": spec["rope"],
        "tie_word_embeddings": spec["tied"],
        "vocab_size": spec["vocab"],
        "bos_token_id": 1,
        "eos_token_id": [2, 3] if spec["arch"] == "llama" else 2,
        "torch_dtype": storage_dtype(spec),
        "initializer_range": 0.02,
        "use_cache": True,
    }
    if spec["arch"] == "llama":
        c["attention_bias"] = False
        c["mlp_bias"] = False
    if spec["arch"] in ("mistral", "qwen2", "qwen3"):
        c["sliding_window"] = None
    if spec["arch"] in ("qwen2", "qwen3"):
        c["use_sliding_window"] = False
        c["max_window_layers"] = 2
    if spec["arch"] == "qwen3":
        c["attention_bias"] = False
    q = quant_of(spec)
    if q is not None:
        c["quantization"] = dict(q)
        c["quantization_config"] = dict(q)
    return c


def random_weights(spec, rng):
    """float32 master weights with HF parameter names. Scaled so activations stay O(1) and the
    logits have a spread of a few units (clear greedy margins), unlike HF's 0.02 init."""
    h, nh, nkv, hd, ff, v = (spec["hidden"], spec["heads"], spec["kv_heads"], spec["head_dim"],
                             spec["inter"], spec["vocab"])

    def lin(out_dim, in_dim, gain=1.0):
        return (rng.standard_normal((out_dim, in_dim)) * gain / np.sqrt(in_dim)).astype(np.float32)

    def norm(n):
        return (1.0 + 0.2 * rng.standard_normal(n)).astype(np.float32)

    w = {"model.embed_tokens.weight": rng.standard_normal((v, h)).astype(np.float32)}
    for i in range(2):
        p = f"model.layers.{i}."
        w[p + "input_layernorm.weight"] = norm(h)
        w[p + "self_attn.q_proj.weight"] = lin(nh * hd, h, 2.0)
        w[p + "self_attn.k_proj.weight"] = lin(nkv * hd, h, 2.0)
        w[p + "self_attn.v_proj.weight"] = lin(nkv * hd, h)
        w[p + "self_attn.o_proj.weight"] = lin(h, nh * hd)
        if spec["arch"] == "qwen2":
            w[p + "self_attn.q_proj.bias"] = (0.3 * rng.standard_normal(nh * hd)).astype(np.float32)
            w[p + "self_attn.k_proj.bias"] = (0.3 * rng.standard_normal(nkv * hd)).astype(np.float32)
            w[p + "self_attn.v_proj.bias"] = (0.3 * rng.standard_normal(nkv * hd)).astype(np.float32)
        if spec["arch"] == "qwen3":
            w[p + "self_attn.q_norm.weight"] = norm(hd)
            w[p + "self_attn.k_norm.weight"] = norm(hd)
        w[p + "post_attention_layernorm.weight"] = norm(h)
        w[p + "mlp.gate_proj.weight"] = lin(ff, h, 1.5)
        w[p + "mlp.up_proj.weight"] = lin(ff, h)
        w[p + "mlp.down_proj.weight"] = lin(h, ff)
    w["model.norm.weight"] = norm(h)
    if not spec["tied"]:
        w["lm_head.weight"] = lin(v, h, 3.0)
    else:
        # Tied: the embedding is the lm_head; keep its logits spread comparable.
        w["model.embed_tokens.weight"] *= np.float32(3.0 / np.sqrt(h))
    return w


def is_quantized_param(name):
    return name.endswith(".weight") and ("_proj." in name or name.endswith("embed_tokens.weight")
                                         or name == "lm_head.weight")


# ---- numerics: bf16 / f16 rounding, MLX affine quantization --------------------------------------

def f32_to_bf16_bits(a):
    """float32 array -> uint16 bf16 bit patterns, round to nearest even (NaN kept NaN)."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    out = rounded.astype(np.uint16)
    nan = np.isnan(a)
    out[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)
    return out


def bf16_bits_to_f32(b):
    return (np.asarray(b, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)


def round_to(a, dtype):
    """Values of float32 array a as stored in dtype ('float32' | 'bfloat16' | 'float16')."""
    a = np.asarray(a, dtype=np.float32)
    if dtype == "float32":
        return a.copy()
    if dtype == "bfloat16":
        return bf16_bits_to_f32(f32_to_bf16_bits(a))
    if dtype == "float16":
        return a.astype(np.float16).astype(np.float32)
    die(f"unknown dtype {dtype}")


def pack_bits(codes, bits):
    """codes (out, in) < 2^bits -> uint32 (out, in*bits/32): a little-endian bit stream per row
    (code j occupies bits [j*bits, (j+1)*bits) of the row; for bits 3/5/6 codes straddle words)."""
    codes = np.asarray(codes, dtype=np.uint64)
    out_dim, in_dim = codes.shape
    if (in_dim * bits) % 32 != 0:
        die(f"pack_bits: row of {in_dim} codes x {bits} bits is not a whole number of words")
    if codes.size and int(codes.max()) >= (1 << bits):
        die("pack_bits: code out of range")
    n_words = in_dim * bits // 32
    words = np.zeros((out_dim, n_words), dtype=np.uint64)
    for j in range(in_dim):
        bit = j * bits
        wi, off = divmod(bit, 32)
        words[:, wi] |= (codes[:, j] << np.uint64(off)) & np.uint64(0xFFFFFFFF)
        if off + bits > 32:  # straddles into the next word
            words[:, wi + 1] |= codes[:, j] >> np.uint64(32 - off)
    return words.astype(np.uint32)


def unpack_bits(words, bits, in_dim):
    words = np.asarray(words, dtype=np.uint32).astype(np.uint64)
    mask = np.uint64((1 << bits) - 1)
    codes = np.zeros((words.shape[0], in_dim), dtype=np.uint64)
    for j in range(in_dim):
        wi, off = divmod(j * bits, 32)
        c = words[:, wi] >> np.uint64(off)
        if off + bits > 32:
            c |= words[:, wi + 1] << np.uint64(32 - off)
        codes[:, j] = c & mask
    return codes.astype(np.uint32)


def quantize_affine(w, bits, group, param_dtype):
    """-> (words uint32 (out, in*bits/32), scales, biases float32 (out, in/group), already rounded
    to param_dtype). MLX's documented affine scheme."""
    w = np.asarray(w, dtype=np.float32)
    out_dim, in_dim = w.shape
    if in_dim % group != 0:
        die(f"quantize: input dim {in_dim} is not a multiple of group size {group}")
    n_bins = (1 << bits) - 1
    g = w.reshape(out_dim, in_dim // group, group)
    w_min, w_max = g.min(axis=2), g.max(axis=2)
    scales = round_to((w_max - w_min) / n_bins, param_dtype)
    biases = round_to(w_min, param_dtype)
    s = scales[:, :, None]
    safe = np.where(s > 0, s, 1.0)
    codes = np.where(s > 0, np.rint((g - biases[:, :, None]) / safe), 0.0)
    codes = np.clip(codes, 0, n_bins).astype(np.uint32).reshape(out_dim, in_dim)
    return pack_bits(codes, bits), scales, biases


def dequantize_affine(words, scales, biases, bits, group, in_dim):
    codes = unpack_bits(words, bits, in_dim).astype(np.float32)
    out_dim = codes.shape[0]
    g = codes.reshape(out_dim, in_dim // group, group)
    return (g * scales[:, :, None] + biases[:, :, None]).reshape(out_dim, in_dim).astype(np.float32)


# ---- safetensors ---------------------------------------------------------------------------------

def to_stored(arr, dtype):
    """(safetensors dtype tag, raw little-endian bytes) of a float32 array stored as dtype."""
    if dtype == "float32":
        return "F32", np.ascontiguousarray(arr, dtype="<f4").tobytes()
    if dtype == "bfloat16":
        return "BF16", f32_to_bf16_bits(arr).astype("<u2").tobytes()
    if dtype == "float16":
        return "F16", np.ascontiguousarray(arr, dtype="<f2").tobytes()
    die(f"unknown dtype {dtype}")


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (dtype tag, shape, bytes)}; names sorted; 8-byte aligned header."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        tag, shape, raw = tensors[name]
        header[name] = {"dtype": tag, "shape": list(shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * ((8 - len(hjson) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """-> {name: (dtype tag, shape, bytes)}; validates offsets (used by the self-test)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    body = data[8 + n:]
    out, sizes = {}, {"F32": 4, "BF16": 2, "F16": 2, "U32": 4}
    for name, h in header.items():
        b, e = h["data_offsets"]
        if not (0 <= b <= e <= len(body)) or (e - b) != sizes[h["dtype"]] * int(np.prod(h["shape"])):
            die(f"read_safetensors: bad entry {name}")
        out[name] = (h["dtype"], tuple(h["shape"]), body[b:e])
    return out


# ---- one model: files + the weights the reference must use ---------------------------------------

def build_model_files(spec, index, out_dir):
    """Writes config.json and model.safetensors; returns (config dict, {name: float32 weights as
    the engine sees them}, prompts)."""
    rng = np.random.default_rng(1000 + index)
    master = random_weights(spec, rng)
    dtype = storage_dtype(spec)
    q = quant_of(spec)
    stored, effective = {}, {}
    for name, w in master.items():
        if q is not None and is_quantized_param(name):
            words, scales, biases = quantize_affine(w, q["bits"], q["group_size"], dtype)
            base = name[:-len(".weight")]
            stored[base + ".weight"] = ("U32", words.shape, words.astype("<u4").tobytes())
            for suffix, arr in ((".scales", scales), (".biases", biases)):
                tag, raw = to_stored(arr, dtype)
                stored[base + suffix] = (tag, arr.shape, raw)
            effective[name] = dequantize_affine(words, scales, biases, q["bits"], q["group_size"],
                                                w.shape[1])
        else:
            tag, raw = to_stored(w, dtype)
            stored[name] = (tag, w.shape, raw)
            effective[name] = round_to(w, dtype)
    config = hf_config(spec)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), stored, {"format": "mlx" if q else "pt"})
    prompts = [rng.integers(0, spec["vocab"], size=n).tolist() for n in PROMPT_LENGTHS]
    greedy_candidates = [rng.integers(0, spec["vocab"], size=8).tolist()
                         for _ in range(GREEDY_CANDIDATES)]
    return config, effective, prompts, greedy_candidates


# ---- transformers reference ----------------------------------------------------------------------

def import_torch():
    try:
        import torch
        import transformers
    except ImportError as e:
        die(f"{e}. The reference needs torch and transformers (run this on the GPU machine, or "
            f"use --dry-run / --self-test here)")
    return torch, transformers


def rope_inv_freq(config):
    """Our own computation of the (scaled) rotary frequencies, to check transformers used the
    scaling we wrote into config.json."""
    hd = config["head_dim"]
    inv = 1.0 / (config["rope_theta"] ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
    r = config.get("rope_scaling")
    if not r:
        return inv
    kind = r.get("rope_type", r.get("type"))
    if kind == "linear":
        return inv / r["factor"]
    if kind == "llama3":
        factor, lo, hi, orig = (r["factor"], r["low_freq_factor"], r["high_freq_factor"],
                                r["original_max_position_embeddings"])
        wavelen = 2 * np.pi / inv
        out = np.where(wavelen > orig / lo, inv / factor, inv)
        smooth = (orig / wavelen - lo) / (hi - lo)
        mid = (1 - smooth) * inv / factor + smooth * inv
        is_mid = (wavelen >= orig / hi) & (wavelen <= orig / lo)
        return np.where(is_mid, mid, out)
    die(f"rope type {kind} not handled")


def make_hf_model(torch, transformers, config):
    arch = config["architectures"][0]
    cls = getattr(transformers, arch, None)
    cfg_cls = getattr(transformers, arch.replace("ForCausalLM", "Config"), None)
    if cls is None or cfg_cls is None:
        die(f"transformers {transformers.__version__} has no {arch}")
    kwargs = {k: v for k, v in config.items()
              if k not in ("architectures", "model_type", "quantization", "quantization_config",
                           "torch_dtype")}
    rope = kwargs.pop("rope_scaling")
    if rope is not None:
        rope = dict(rope)
        rope.setdefault("rope_type", rope.get("type"))
    # transformers 4.x: rope_theta + rope_scaling; 5.x: rope_parameters (dict with rope_theta).
    # Pass the 4.x form (5.x still accepts and converts it), then check / fix the result.
    try:
        cfg = cfg_cls(**kwargs, rope_scaling=rope, attn_implementation="eager")
    except TypeError:
        cfg = cfg_cls(**kwargs, rope_scaling=rope)
    if hasattr(cfg, "rope_parameters"):
        rp = getattr(cfg, "rope_parameters") or {}
        want = dict(rope or {"rope_type": "default"})
        want["rope_theta"] = config["rope_theta"]
        want.pop("type", None)
        if isinstance(rp, dict) and (rp.get("rope_type") != want["rope_type"] or
                                     rp.get("rope_theta") != want["rope_theta"]):
            cfg.rope_parameters = want
    try:
        cfg._attn_implementation = "eager"
    except Exception:  # noqa: BLE001 (read-only in some versions; the kwarg above then applied)
        pass
    torch.manual_seed(0)
    model = cls(cfg)
    model.eval()
    return model


def load_weights(torch, model, effective, tied):
    sd = {k: torch.from_numpy(v.astype(np.float64)) for k, v in effective.items()}
    model.to(torch.float64)
    result = model.load_state_dict(sd, strict=False)
    missing = [k for k in result.missing_keys if not (tied and k == "lm_head.weight")]
    missing = [k for k in missing if "rotary_emb" not in k]
    if missing or result.unexpected_keys:
        die(f"state dict mismatch: missing {missing}, unexpected {list(result.unexpected_keys)}")
    if tied:
        model.tie_weights()
        if not torch.equal(model.lm_head.weight, model.model.embed_tokens.weight):
            die("tied model: lm_head is not the embedding after tie_weights()")
    for k, v in sd.items():
        got = model.state_dict()[k]
        if not torch.equal(got, v):
            die(f"weight {k} did not load")


def check_rope(torch, model, config):
    emb = getattr(model.model, "rotary_emb", None)
    if emb is None or not hasattr(emb, "inv_freq"):
        print("  warning: cannot find model.model.rotary_emb.inv_freq to check rope scaling")
        return
    got = emb.inv_freq.detach().double().cpu().numpy()
    want = rope_inv_freq(config)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=0):
        die(f"rotary frequencies differ from the config's scaling ({config.get('rope_scaling')}):"
            f"\n  transformers {got}\n  expected     {want}")
    scaling = getattr(emb, "attention_scaling", 1.0)
    if abs(float(scaling) - 1.0) > 1e-12:
        die(f"unexpected rope attention_scaling {scaling}")


def logits_of(torch, model, ids):
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids], dtype=torch.long), use_cache=False)
    return out.logits[0].double().cpu().numpy()  # (n, vocab)


def greedy(torch, model, prompt, n):
    ids, toks, margins = list(prompt), [], []
    for _ in range(n):
        row = logits_of(torch, model, ids)[-1]
        order = np.argsort(-row, kind="stable")
        toks.append(int(order[0]))
        margins.append(float(row[order[0]] - row[order[1]]))
        ids.append(int(order[0]))
    return toks, margins


def rounded(row):
    return [float(f"{x:.{SIG_DIGITS}g}") for x in row]


def make_golden(torch, transformers, spec, config, effective, prompts, greedy_candidates, out_dir):
    model = make_hf_model(torch, transformers, config)
    load_weights(torch, model, effective, spec["tied"])
    check_rope(torch, model, config)
    cases, stds = [], []
    for p in prompts:
        lg = logits_of(torch, model, p)
        pos = list(range(max(0, len(p) - LOGIT_ROWS), len(p)))
        cases.append({"prompt": p, "positions": pos, "logits": [rounded(lg[i]) for i in pos]})
        stds.append(float(lg[pos].std()))
    best = None
    for cand in greedy_candidates:
        toks, margins = greedy(torch, model, cand, GREEDY_TOKENS)
        if best is None or min(margins) > min(best[2]):
            best = (cand, toks, margins)
    golden = {
        "format": 1,
        "generator": "tools/reference/make_golden.py",
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "reference_dtype": "float64",
        "name": spec["name"],
        "architecture": config["architectures"][0],
        "storage": spec["storage"],
        "torch_dtype": config["torch_dtype"],
        "quantization": config.get("quantization"),
        "vocab_size": spec["vocab"],
        "logit_std": float(np.mean(stds)),
        "cases": cases,
        "greedy": {"prompt": best[0], "tokens": best[1],
                   "margins": [float(f"{m:.4g}") for m in best[2]]},
    }
    with open(os.path.join(out_dir, "golden.json"), "w") as f:
        json.dump(golden, f, separators=(",", ":"))
        f.write("\n")
    return golden


# ---- self-test (numpy only) ----------------------------------------------------------------------

def self_test():
    rng = np.random.default_rng(7)
    # bf16 rounding: ties to even, exact values kept.
    x = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -2.5, 65536.0], dtype=np.float32)
    assert np.array_equal(round_to(x, "bfloat16"), [1.0, 1.0, 1.0 + 2 ** -6, -2.5, 65536.0]), \
        round_to(x, "bfloat16")
    # Bit-stream packing: layout and round trip for every MLX bit width.
    codes = np.arange(8, dtype=np.uint32)[None, :]
    assert pack_bits(codes, 4)[0, 0] == 0x76543210, hex(pack_bits(codes, 4)[0, 0])
    codes8 = np.array([[1, 2, 3, 4]], dtype=np.uint32)
    assert pack_bits(codes8, 8)[0, 0] == 0x04030201
    c3 = np.array([[7] + [0] * 9 + [5, 3] + [0] * 20], dtype=np.uint32)  # code 10 straddles
    w3 = pack_bits(c3, 3)
    assert w3[0, 0] == (7 | (5 << 30)) & 0xFFFFFFFF and w3[0, 1] == ((5 >> 2) | (3 << 1)), w3
    for bits in (2, 3, 4, 5, 6, 8):
        c = rng.integers(0, 1 << bits, size=(3, 64)).astype(np.uint32)
        assert np.array_equal(unpack_bits(pack_bits(c, bits), bits, 64), c), bits
    # Quantization error: at most half a step (plus parameter rounding) per element.
    w = rng.standard_normal((16, 128)).astype(np.float32)
    for bits in (4, 8):
        for group in (32, 64):
            for dt in ("float32", "bfloat16", "float16"):
                words, s, b = quantize_affine(w, bits, group, dt)
                assert words.shape == (16, 128 * bits // 32) and s.shape == (16, 128 // group)
                deq = dequantize_affine(words, s, b, bits, group, 128)
                step = np.repeat(s, group, axis=1)
                # bias rounding can shift a group by up to half an ulp of the bias
                slack = 0.5 * step + np.repeat(np.abs(b), group, axis=1) * 2 ** -7 + 1e-7
                err = np.abs(deq - w)
                assert np.all(err <= slack), (bits, group, dt, float((err - slack).max()))
    # Constant group: scale 0, exact.
    wc = np.full((2, 32), 0.75, dtype=np.float32)
    words, s, b = quantize_affine(wc, 4, 32, "bfloat16")
    assert np.all(s == 0) and np.array_equal(dequantize_affine(words, s, b, 4, 32, 32), wc)
    # Model files: every spec writes and reads back; quantized names/shapes as MLX lays them out.
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        for i, spec in enumerate(MODELS):
            d = os.path.join(tmp, spec["name"])
            config, effective, prompts, _ = build_model_files(spec, i, d)
            st = read_safetensors(os.path.join(d, "model.safetensors"))
            q = quant_of(spec)
            for name, w in effective.items():
                if q is not None and is_quantized_param(name):
                    base = name[:-len(".weight")]
                    tag, shape, raw = st[base + ".weight"]
                    assert tag == "U32" and shape == (w.shape[0], w.shape[1] * q["bits"] // 32)
                    stag, sshape, sraw = st[base + ".scales"]
                    assert sshape == (w.shape[0], w.shape[1] // q["group_size"])
                    assert stag == {"bfloat16": "BF16", "float16": "F16"}[config["torch_dtype"]]
                    assert (base + ".biases") in st
                else:
                    tag, shape, raw = st[name]
                    assert shape == w.shape, (name, shape, w.shape)
                    if tag == "BF16":
                        back = bf16_bits_to_f32(np.frombuffer(raw, dtype="<u2")).reshape(shape)
                    elif tag == "F16":
                        back = np.frombuffer(raw, dtype="<f2").astype(np.float32).reshape(shape)
                    else:
                        back = np.frombuffer(raw, dtype="<f4").reshape(shape)
                    assert np.array_equal(back, w), name
            assert ("lm_head.weight" in effective) == (not spec["tied"])
            assert all(0 <= t < spec["vocab"] for p in prompts for t in p)
            assert [len(p) for p in prompts] == PROMPT_LENGTHS
            size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
            print(f"  {spec['name']:<24} {size / 1e3:8.1f} kB")
    # Our llama3 frequencies: high frequencies untouched, low ones divided by the factor.
    inv = rope_inv_freq(hf_config(MODELS[0]))
    base = rope_inv_freq(dict(hf_config(MODELS[0]), rope_scaling=None))
    assert inv[0] == base[0] and abs(inv[-1] - base[-1] / 8.0) < 1e-15 * base[-1] + 1e-30
    print("self-test passed")


# ---- main ----------------------------------------------------------------------------------------

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "tests", "engine", "golden"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=default_out, help=f"fixture root (default {default_out})")
    ap.add_argument("--only", action="append", help="model name(s) to build (default: all)")
    ap.add_argument("--dry-run", action="store_true",
                    help="write config.json + model.safetensors only (no torch)")
    ap.add_argument("--self-test", action="store_true", help="check the numpy parts and exit")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return
    names = [m["name"] for m in MODELS]
    for n in args.only or []:
        if n not in names:
            die(f"unknown model '{n}' (known: {', '.join(names)})")
    torch = transformers = None
    if not args.dry_run:
        torch, transformers = import_torch()
        torch.set_num_threads(max(1, min(8, os.cpu_count() or 1)))
        print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    total = 0
    for i, spec in enumerate(MODELS):
        if args.only and spec["name"] not in args.only:
            continue
        d = os.path.join(args.out, spec["name"])
        config, effective, prompts, greedy_candidates = build_model_files(spec, i, d)
        line = f"{d}: {config['architectures'][0]} {spec['storage']}"
        if not args.dry_run:
            g = make_golden(torch, transformers, spec, config, effective, prompts,
                            greedy_candidates, d)
            line += (f", logit std {g['logit_std']:.3f}, greedy min margin "
                     f"{min(g['greedy']['margins']):.4f}")
        size = sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
        total += size
        print(f"{line}, {size / 1e3:.1f} kB")
    print(f"wrote {total / 1e6:.2f} MB under {args.out}")
    if total > 20e6:
        die(f"fixtures total {total / 1e6:.1f} MB, over the 20 MB budget")


if __name__ == "__main__":
    main()
