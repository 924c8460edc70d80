#!/usr/bin/env python3
"""Our own MLX-affine quantizer and a minimal safetensors writer/reader (numpy only).

Layout (DESIGN.md section 4, MLX "affine" mode), for a weight W of shape (out, in):
  per row, per group of `group_size` consecutive input columns:
      scale = (max - min) / (2**bits - 1),  bias = min          (rounded to float16 first)
      code  = clip(round((w - bias) / scale), 0, 2**bits - 1)    (code 0 when scale == 0)
      w'    = scale * code + bias
  `weight`: uint32 (out, in * bits / 32); codes are a little-endian bit stream per row, so for
            4 bits code j (0-based within the word) occupies bits [4j, 4j + 4) of word j // 8.
  `scales`, `biases`: (out, in / group_size), float16 (SCALE_DTYPE below).

Self-test (no torch needed):  python3 tools/train_demo/quantize.py --self-test
"""
import json
import struct
import sys

import numpy as np

SCALE_DTYPE = np.float16  # scales/biases dtype; the exported config says torch_dtype float16

_ST_DTYPES = {
    np.dtype(np.uint32): "U32", np.dtype(np.float16): "F16", np.dtype(np.float32): "F32",
    np.dtype(np.int32): "I32", np.dtype(np.uint8): "U8", np.dtype(np.int64): "I64",
}
_ST_DTYPES_REV = {v: k for k, v in _ST_DTYPES.items()}


def quantize_affine(w, group_size=64, bits=4):
    """w: float array (out, in) -> (wq uint32 (out, in*bits/32), scales, biases (out, in/gs))."""
    w = np.asarray(w, dtype=np.float32)
    if w.ndim != 2:
        raise ValueError(f"quantize_affine: expected a 2-D weight, got shape {w.shape}")
    if bits not in (2, 4, 8):
        raise ValueError(f"quantize_affine: bits {bits} not supported here (2, 4, 8)")
    out_dim, in_dim = w.shape
    if in_dim % group_size != 0:
        raise ValueError(f"quantize_affine: in dim {in_dim} not a multiple of group {group_size}")
    if not np.all(np.isfinite(w)):
        raise ValueError("quantize_affine: weight has non-finite values")
    n_levels = (1 << bits) - 1
    g = w.reshape(out_dim, in_dim // group_size, group_size)  # (out, n_groups, gs)
    w_min = g.min(axis=2)
    w_max = g.max(axis=2)
    scales = ((w_max - w_min) / n_levels).astype(SCALE_DTYPE)  # (out, n_groups)
    biases = w_min.astype(SCALE_DTYPE)
    s32 = scales.astype(np.float32)[:, :, None]
    b32 = biases.astype(np.float32)[:, :, None]
    safe = np.where(s32 > 0, s32, 1.0)
    codes = np.where(s32 > 0, np.rint((g - b32) / safe), 0.0)
    codes = np.clip(codes, 0, n_levels).astype(np.uint32).reshape(out_dim, in_dim)
    return pack_codes(codes, bits), scales, biases


def pack_codes(codes, bits):
    """codes uint (out, in) with values < 2**bits -> uint32 (out, in*bits/32), little-endian."""
    codes = np.asarray(codes, dtype=np.uint32)
    out_dim, in_dim = codes.shape
    per_word = 32 // bits
    if in_dim % per_word != 0:
        raise ValueError(f"pack_codes: in dim {in_dim} not a multiple of {per_word}")
    if codes.size and int(codes.max()) >= (1 << bits):
        raise ValueError("pack_codes: code out of range")
    c = codes.reshape(out_dim, in_dim // per_word, per_word)
    words = np.zeros((out_dim, in_dim // per_word), dtype=np.uint32)
    for j in range(per_word):
        words |= c[:, :, j] << np.uint32(bits * j)
    return words


def unpack_codes(words, bits):
    """Inverse of pack_codes: uint32 (out, n_words) -> uint32 codes (out, n_words*32/bits)."""
    words = np.asarray(words, dtype=np.uint32)
    per_word = 32 // bits
    mask = np.uint32((1 << bits) - 1)
    parts = [(words >> np.uint32(bits * j)) & mask for j in range(per_word)]
    return np.stack(parts, axis=2).reshape(words.shape[0], words.shape[1] * per_word)


def dequantize_affine(wq, scales, biases, group_size=64, bits=4):
    """-> float32 (out, in): scale * code + bias, computed in float32."""
    codes = unpack_codes(wq, bits).astype(np.float32)
    out_dim, in_dim = codes.shape
    if scales.shape != (out_dim, in_dim // group_size) or biases.shape != scales.shape:
        raise ValueError(f"dequantize_affine: scales {scales.shape} / biases {biases.shape} do "
                         f"not match weight ({out_dim}, {in_dim}) with group {group_size}")
    g = codes.reshape(out_dim, in_dim // group_size, group_size)
    w = g * scales.astype(np.float32)[:, :, None] + biases.astype(np.float32)[:, :, None]
    return w.reshape(out_dim, in_dim)


def quantize_state_dict(tensors, should_quantize, group_size=64, bits=4, other_dtype=np.float16):
    """tensors: {name: float array}. Names ending in '.weight' selected by should_quantize(name,
    array) become name.weight (uint32) + name.scales + name.biases; the rest are cast to
    other_dtype. Returns a new dict."""
    out = {}
    for name, arr in tensors.items():
        arr = np.asarray(arr, dtype=np.float32)
        if name.endswith(".weight") and should_quantize(name, arr):
            base = name[:-len(".weight")]
            wq, s, b = quantize_affine(arr, group_size, bits)
            out[base + ".weight"] = wq
            out[base + ".scales"] = s
            out[base + ".biases"] = b
        else:
            out[name] = arr.astype(other_dtype)
    return out


def dequantize_state_dict(tensors, group_size=64, bits=4):
    """Inverse view: {name.weight(uint32), name.scales, name.biases} -> float32 name.weight."""
    out = {}
    for name, arr in tensors.items():
        if name.endswith(".scales") or name.endswith(".biases"):
            continue
        if name.endswith(".weight") and arr.dtype == np.uint32:
            base = name[:-len(".weight")]
            out[name] = dequantize_affine(arr, tensors[base + ".scales"], tensors[base + ".biases"],
                                          group_size, bits)
        else:
            out[name] = np.asarray(arr, dtype=np.float32)
    return out


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: numpy array} as safetensors (names sorted, header padded to 8 bytes)."""
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        if a.dtype not in _ST_DTYPES:
            raise ValueError(f"save_safetensors: dtype {a.dtype} of {name} not supported")
        data = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _ST_DTYPES[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hb = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hb += b" " * ((8 - len(hb) % 8) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hb)))
        fh.write(hb)
        for b in blobs:
            fh.write(b)


def load_safetensors(path):
    """-> ({name: numpy array}, metadata dict). Validates offsets."""
    with open(path, "rb") as fh:
        raw = fh.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: too short for safetensors")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header length {n} past end of file")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    out = {}
    for name, info in header.items():
        dt = _ST_DTYPES_REV.get(info["dtype"])
        if dt is None:
            raise ValueError(f"{path}: {name} has unsupported dtype {info['dtype']}")
        b, e = info["data_offsets"]
        count = int(np.prod(info["shape"])) if info["shape"] else 1
        if not 0 <= b <= e <= len(data) or e - b != count * dt.itemsize:
            raise ValueError(f"{path}: {name} has bad offsets {b}..{e}")
        out[name] = np.frombuffer(data[b:e], dtype=dt.newbyteorder("<")).reshape(info["shape"])
    return out, meta


# ----------------------------------------------------------------------------- self-test

def _reference_unpack_bits(words_row, bits, n):
    """Reads n codes from a row of uint32 words as a little-endian bit stream, one bit at a time."""
    stream = []
    for w in words_row:
        w = int(w)
        stream.extend((w >> k) & 1 for k in range(32))
    codes = []
    for j in range(n):
        codes.append(sum(stream[j * bits + k] << k for k in range(bits)))
    return codes


def self_test():
    rng = np.random.default_rng(0)
    failures = []

    def check(cond, what):
        if not cond:
            failures.append(what)
            print("FAIL:", what)

    # 1. Exact packing layout: row 0 holds codes 0..15 then 15..0 -> known words.
    codes = np.array([list(range(16)) + list(range(15, -1, -1))], dtype=np.uint32)  # (1, 32)
    words = pack_codes(codes, 4)  # (1, 4)
    check(words.shape == (1, 4), f"packed shape {words.shape}")
    check(int(words[0, 0]) == 0x76543210, f"word0 {int(words[0, 0]):#010x} != 0x76543210")
    check(int(words[0, 1]) == 0xFEDCBA98, f"word1 {int(words[0, 1]):#010x} != 0xfedcba98")
    check(int(words[0, 2]) == 0x89ABCDEF, f"word2 {int(words[0, 2]):#010x} != 0x89abcdef")
    check(int(words[0, 3]) == 0x01234567, f"word3 {int(words[0, 3]):#010x} != 0x01234567")
    check(np.array_equal(unpack_codes(words, 4), codes), "unpack(pack) != codes")
    le = words.astype("<u4").tobytes()
    check(le[:4] == bytes([0x10, 0x32, 0x54, 0x76]), f"little-endian bytes {le[:4].hex()}")

    # 2. Round trip on random weights, against a bit-by-bit reference reader.
    for bits in (4, 8, 2):
        w = rng.normal(0, 0.05, size=(12, 256)).astype(np.float32)
        w[3, :64] = 0.25  # constant group -> scale 0
        wq, s, b = quantize_affine(w, 64, bits)
        check(wq.dtype == np.uint32 and wq.shape == (12, 256 * bits // 32),
              f"bits {bits}: wq {wq.dtype} {wq.shape}")
        check(s.dtype == SCALE_DTYPE and s.shape == (12, 4) and b.shape == (12, 4),
              f"bits {bits}: scales {s.dtype} {s.shape}")
        codes = unpack_codes(wq, bits)
        for r in (0, 5, 11):
            check(_reference_unpack_bits(wq[r], bits, 256) == codes[r].tolist(),
                  f"bits {bits}: row {r} bit-stream mismatch")
        wd = dequantize_affine(wq, s, b, 64, bits)
        step = np.repeat(s.astype(np.float32), 64, axis=1)
        err = np.abs(wd - w)
        # half a step from rounding, plus float16 rounding of the bias (and of the scale * 15)
        tol = 0.5 * step + 2e-3 * np.abs(w).max() + 1e-6
        check(bool(np.all(err <= tol)), f"bits {bits}: max err {err.max()} beyond tolerance")
        check(bool(np.allclose(wd[3, :64], 0.25, atol=1e-3)), f"bits {bits}: constant group")
        check(float(s[3, 0]) == 0.0, f"bits {bits}: constant group scale {float(s[3, 0])}")
        # Every group's min and max are represented within a step.
        g = w.reshape(12, 4, 64)
        gd = wd.reshape(12, 4, 64)
        check(bool(np.all(np.abs(gd.min(2) - g.min(2)) <= s.astype(np.float32) + 1e-3)),
              f"bits {bits}: group min not represented")
        # Manual dequantization of one element following the documented formula.
        r, c = 7, 130
        code = _reference_unpack_bits(wq[r], bits, 256)[c]
        manual = float(s[r, c // 64]) * code + float(b[r, c // 64])
        check(abs(manual - float(wd[r, c])) < 1e-6, f"bits {bits}: manual dequant mismatch")

    # 3. Bad inputs raise clear errors.
    for bad, what in ((np.zeros((4, 60), np.float32), "in dim not multiple of group"),
                      (np.zeros((4,), np.float32), "1-D"),
                      (np.full((2, 64), np.nan, np.float32), "NaN")):
        try:
            quantize_affine(bad, 64, 4)
            check(False, f"no error for {what}")
        except ValueError:
            pass

    # 4. State dict + safetensors round trip.
    import os
    import tempfile
    sd = {"model.embed_tokens.weight": rng.normal(0, 0.02, (32, 128)).astype(np.float32),
          "model.layers.0.mlp.down_proj.weight": rng.normal(0, 0.02, (128, 64)).astype(np.float32),
          "model.norm.weight": np.ones(128, np.float32)}
    q = quantize_state_dict(sd, lambda n, a: a.ndim == 2)
    check(set(q) == {"model.embed_tokens.weight", "model.embed_tokens.scales",
                     "model.embed_tokens.biases", "model.layers.0.mlp.down_proj.weight",
                     "model.layers.0.mlp.down_proj.scales", "model.layers.0.mlp.down_proj.biases",
                     "model.norm.weight"}, f"state dict keys {sorted(q)}")
    check(q["model.embed_tokens.weight"].shape == (32, 16), "embed packed shape")
    check(q["model.norm.weight"].dtype == np.float16, "norm dtype")
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "m.safetensors")
        save_safetensors(p, q, {"format": "mlx"})
        back, meta = load_safetensors(p)
        check(meta == {"format": "mlx"}, f"metadata {meta}")
        check(set(back) == set(q), "safetensors keys")
        for k in q:
            check(back[k].dtype == q[k].dtype and np.array_equal(back[k], q[k]), f"tensor {k}")
        with open(p, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
        check(n % 8 == 0, "header not padded to 8 bytes")
    dq = dequantize_state_dict(q)
    check(dq["model.embed_tokens.weight"].shape == (32, 128), "dequantized shape")
    check(float(np.abs(dq["model.embed_tokens.weight"] - sd["model.embed_tokens.weight"]).max())
          < 0.02, "dequantized embed error")

    if failures:
        print(f"self-test: {len(failures)} failure(s)")
        return 1
    print("self-test: OK (packing layout, round trip for 2/4/8 bits, errors, safetensors)")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    print(__doc__)
    sys.exit(2)
