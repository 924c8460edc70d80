#!/usr/bin/env python3
"""The demo model's chat format: one definition used for training data and for the export.

The exported tokenizer_config.json carries CHAT_TEMPLATE (Jinja, HF convention: the template
emits the BOS token itself, so a rendered prompt is tokenized WITHOUT adding special tokens).
Role markers are plain text ("<|user|>" is ordinary text to the Llama 2 tokenizer); turns end
with the real EOS token "</s>", so generation stops at eos_token_id after the assistant's turn.

  <s><|user|>
  Write a sentence about music.</s>
  <|assistant|>
  <reply></s>

Self-check (compares render_chat with a real Jinja2 rendering):
  python3 tools/train_demo/chat_format.py --self-test
"""
import sys

BOS, EOS = "<s>", "</s>"

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)


def render_chat(messages, add_generation_prompt):
    """Pure-Python equivalent of CHAT_TEMPLATE (verified against Jinja2 by the self-test)."""
    out = [BOS]
    for m in messages:
        role, content = m["role"], m["content"]
        if not isinstance(role, str) or not isinstance(content, str):
            raise ValueError(f"chat message needs string role/content, got {m!r}")
        out.append("<|" + role + "|>\n" + content + EOS + "\n")
    if add_generation_prompt:
        out.append("<|assistant|>\n")
    return "".join(out)


def render_with_jinja(messages, add_generation_prompt):
    import jinja2
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)  # as transformers does
    return env.from_string(CHAT_TEMPLATE).render(
        messages=messages, add_generation_prompt=add_generation_prompt,
        bos_token=BOS, eos_token=EOS)


def self_test():
    cases = [
        [{"role": "user", "content": "Write a sentence about music."}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "Again {x} %}"}],
        [],
    ]
    bad = 0
    for msgs in cases:
        for agp in (True, False):
            a, b = render_chat(msgs, agp), render_with_jinja(msgs, agp)
            if a != b:
                bad += 1
                print(f"FAIL: agp={agp}\n python: {a!r}\n jinja:  {b!r}")
    want = "<s><|user|>\nWrite a sentence about music.</s>\n<|assistant|>\n"
    if render_chat(cases[0], True) != want:
        bad += 1
        print("FAIL: fixed rendering", repr(render_chat(cases[0], True)))
    print("self-test:", "OK" if not bad else f"{bad} failure(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] == "--self-test":
        sys.exit(self_test())
    print(__doc__)
    sys.exit(2)
