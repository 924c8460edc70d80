#!/usr/bin/env python3
"""Reference renderer for chat templates: Python jinja2 configured exactly as Hugging Face
transformers configures it (transformers/utils/chat_template_utils.py):

  ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                extensions=[AssistantTracker, jinja2.ext.loopcontrols])
  filters["tojson"] = json.dumps(x, ensure_ascii=False, indent, separators, sort_keys)
  globals["raise_exception"], globals["strftime_now"]
  template.render(messages=..., tools=..., documents=..., add_generation_prompt=...,
                  **special_tokens_map, **extra_kwargs)

MLX_MANAGER_TEMPLATE_NOW (ISO date-time) fixes strftime_now, as in the C++ renderer.

Usage:
  render.py --batch CASES.json      CASES = [{"template": str} | {"model_dir": str}, "context": {...}}]
                                    prints a JSON list of {"ok", "text"} or {"ok": false, "kind", "message"}
                                    where kind is "syntax", "raise" or "runtime"
  render.py --model DIR             reads one context JSON object on stdin, writes the rendered text
"""
import argparse
import json
import os
import sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class RaisedException(jinja2.exceptions.TemplateError):
    pass


class AssistantTracker(jinja2.ext.Extension):
    """transformers' {% generation %} ... {% endgeneration %} block (renders its body)."""

    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env():
    def raise_exception(message):
        raise RaisedException(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        fixed = os.environ.get("MLX_MANAGER_TEMPLATE_NOW")
        now = datetime.fromisoformat(fixed).replace(tzinfo=None) if fixed else datetime.now()
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


SPECIAL_KEYS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]


def token_content(v):
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and isinstance(v.get("content"), str):
        return v["content"]
    return None


def load_model(model_dir, has_tools):
    """Template source and special tokens of a model directory, as transformers picks them."""
    config = {}
    path = os.path.join(model_dir, "tokenizer_config.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            config = json.load(f)
    special = {}
    for k in SPECIAL_KEYS:
        c = token_content(config.get(k))
        if c is not None:
            special[k] = c
    if isinstance(config.get("additional_special_tokens"), list):
        special["additional_special_tokens"] = [c for c in map(token_content, config["additional_special_tokens"]) if c is not None]
    jinja_path = os.path.join(model_dir, "chat_template.jinja")
    if os.path.exists(jinja_path):
        with open(jinja_path, encoding="utf-8") as f:
            return f.read(), special
    tpl = config.get("chat_template")
    if isinstance(tpl, list):
        named = {e["name"]: e["template"] for e in tpl}
        if has_tools and "tool_use" in named:
            return named["tool_use"], special
        return named["default"], special
    if not isinstance(tpl, str):
        raise SystemExit(f"no chat template in {model_dir}")
    return tpl, special


def render_case(env, case):
    context = case.get("context", {})
    special = {}
    if case.get("model_dir"):
        source, special = load_model(case["model_dir"], context.get("tools") is not None)
    else:
        source = case["template"]
    try:
        template = env.from_string(source)
    except Exception as e:  # TemplateSyntaxError, TemplateAssertionError, compile-time SyntaxError
        return {"ok": False, "kind": "syntax", "message": f"{type(e).__name__}: {e}"}
    kwargs = dict(special)
    kwargs.update({"tools": None, "documents": None, "add_generation_prompt": False})
    kwargs.update(context)
    try:
        return {"ok": True, "text": template.render(**kwargs)}
    except RaisedException as e:
        return {"ok": False, "kind": "raise", "message": str(e)}
    except Exception as e:
        return {"ok": False, "kind": "runtime", "message": f"{type(e).__name__}: {e}"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch")
    ap.add_argument("--model")
    args = ap.parse_args()
    env = make_env()
    if args.batch:
        with open(args.batch, encoding="utf-8") as f:
            cases = json.load(f)
        out = [render_case(env, c) for c in cases]
        sys.stdout.write(json.dumps(out, ensure_ascii=False))
        return 0
    if args.model:
        context = json.load(sys.stdin)
        context.setdefault("add_generation_prompt", True)
        r = render_case(env, {"model_dir": args.model, "context": context})
        if not r["ok"]:
            sys.stderr.write(r["message"] + "\n")
            return 1
        sys.stdout.write(r["text"])
        return 0
    ap.error("use --batch or --model")


if __name__ == "__main__":
    sys.exit(main())
