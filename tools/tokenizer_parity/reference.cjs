#!/usr/bin/env node
// Reference token ids / decodes from @huggingface/tokenizers (the JS port of HF `tokenizers`),
// used by tests/tokenizer/parity_test.cpp at test time.
//
// Usage: node tools/tokenizer_parity/reference.cjs MODEL_DIR < requests.jsonl
//   MODEL_DIR holds tokenizer.json and (optionally) tokenizer_config.json.
//   Each request line is one JSON object:
//     {"op": "encode", "text": "...", "add_special_tokens": true|false}  -> {"ids": [...]}
//     {"op": "decode", "ids": [...], "skip_special_tokens": true|false} -> {"text": "..."}
//   One JSON line is written per request, in order. Decoding never applies
//   clean_up_tokenization_spaces (our Tokenizer::decode is the lossless `tokenizers` decode).
// Exit status 2 with a message on stderr when the package or the model files are missing.
"use strict";
const fs = require("fs");
const path = require("path");
const { createRequire } = require("module");

const repoRoot = path.resolve(__dirname, "..", "..");
const npmDir = path.join(repoRoot, "third_party", "npm");
function die(msg) {
  process.stderr.write(`reference.cjs: ${msg}\n`);
  process.exit(2);
}

let Tokenizer;
try {
  ({ Tokenizer } = createRequire(path.join(npmDir, "package.json"))("@huggingface/tokenizers"));
} catch (e) {
  die(`cannot load @huggingface/tokenizers from ${npmDir}/node_modules (run scripts/setup): ${e.message}`);
}

const modelDir = process.argv[2];
if (!modelDir) die("usage: reference.cjs MODEL_DIR < requests.jsonl");
const tjPath = path.join(modelDir, "tokenizer.json");
if (!fs.existsSync(tjPath)) die(`missing ${tjPath} (run scripts/setup)`);
const tokenizerJson = JSON.parse(fs.readFileSync(tjPath, "utf8"));
const cfgPath = path.join(modelDir, "tokenizer_config.json");
const config = fs.existsSync(cfgPath) ? JSON.parse(fs.readFileSync(cfgPath, "utf8")) : {};
const tok = new Tokenizer(tokenizerJson, config);

const lines = fs.readFileSync(0, "utf8").split("\n").filter((l) => l.length > 0);
const out = [];
for (const line of lines) {
  const req = JSON.parse(line);
  if (req.op === "encode") {
    const ids = tok.encode(req.text, { add_special_tokens: !!req.add_special_tokens }).ids;
    out.push(JSON.stringify({ ids }));
  } else if (req.op === "decode") {
    const text = req.ids.length === 0 ? "" :
      tok.decode(req.ids, { skip_special_tokens: !!req.skip_special_tokens, clean_up_tokenization_spaces: false });
    out.push(JSON.stringify({ text }));
  } else {
    die(`unknown op in request: ${line}`);
  }
}
process.stdout.write(out.join("\n") + (out.length ? "\n" : ""));
