// Tokenizer: a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`) loaded into a
// framework-free encoder/decoder whose ids match the reference `tokenizers` library.
//
// Supported: model BPE (byte-level like Llama 3 / Qwen / GPT-2, and SentencePiece-style with
// metaspace + byte_fallback like Llama 2 / Mistral / Gemma); normalizers NFC, NFD, NFKC, NFKD,
// Prepend, Replace, Lowercase, Strip, Sequence; pre-tokenizers Sequence, Split, ByteLevel,
// Metaspace, Digits, Punctuation, Whitespace, WhitespaceSplit; added tokens (special or not;
// lstrip, rstrip, single_word, normalized); post-processors TemplateProcessing, ByteLevel,
// BertProcessing, RobertaProcessing, Sequence; decoders ByteLevel, Metaspace, ByteFallback, Fuse,
// Strip, Replace, Sequence. Anything else fails load() with a Status naming the component.
//
// Thread-safety: after load(), every const method may be called concurrently from any thread.
// An IncrementalDetokenizer is per stream and not thread-safe; it borrows the Tokenizer, which
// must outlive it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace mlxm {

namespace tok {
class BpeModel;
class Normalizer;
class PreTokenizer;
class Decoder;
class AddedVocabulary;
class Regex;
}  // namespace tok

class Tokenizer {
 public:
  // Reads model_dir/tokenizer.json (required) and model_dir/tokenizer_config.json (optional:
  // bos_token, eos_token, add_bos_token/add_eos_token for Llama/Gemma tokenizer classes).
  // NotFound when tokenizer.json is missing; InvalidArgument/DataLoss for malformed JSON;
  // Unimplemented naming the component for unsupported models/normalizers/etc.
  static Result<std::unique_ptr<Tokenizer>> load(const std::string& model_dir);
  // Same from in-memory JSON texts (`config_json` may be empty).
  static Result<std::unique_ptr<Tokenizer>> from_json(std::string_view tokenizer_json,
                                                     std::string_view config_json);
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // Text -> ids. Added/special tokens written in the text are always recognised;
  // add_special_tokens adds what the post-processor adds (e.g. BOS). Ill-formed UTF-8 in `text`
  // is first replaced by U+FFFD (maximal-subpart rule). Never fails.
  std::vector<int32_t> encode(std::string_view text, bool add_special_tokens) const;

  // Ids -> text through the decoder; special tokens dropped when skip_special_tokens. Does not
  // apply transformers' clean_up_tokenization_spaces (the lossless `tokenizers` decode).
  // InvalidArgument for an id outside the vocabulary.
  Result<std::string> decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // One more than the largest id (model vocab + added tokens).
  int32_t vocab_size() const { return static_cast<int32_t>(id_to_token_.size()); }
  std::optional<int32_t> token_to_id(std::string_view token) const;
  // Empty optional for ids outside the vocabulary (or holes in it).
  std::optional<std::string> id_to_token(int32_t id) const;
  // True for added tokens flagged "special" (what skip_special_tokens removes).
  bool is_special(int32_t id) const;
  // From tokenizer_config.json (bos_token / eos_token), when present and in the vocabulary.
  std::optional<int32_t> bos_id() const { return bos_id_; }
  std::optional<int32_t> eos_id() const { return eos_id_; }
  // tokenizer_config.json's clean_up_tokenization_spaces (false when absent); informational.
  bool clean_up_tokenization_spaces() const { return clean_up_tokenization_spaces_; }

 private:
  friend class IncrementalDetokenizer;
  Tokenizer();
  void encode_section(std::string_view text, bool at_start, std::vector<int32_t>* ids) const;
  // Token strings of `ids` (specials dropped when skip) -> decoded text.
  Result<std::string> decode_impl(std::span<const int32_t> ids, bool skip_special_tokens) const;

  struct Template {  // post-processor for single sequences: pieces of special ids and $A
    bool present = false;
    std::vector<std::vector<int32_t>> pieces;  // empty vector = the sequence itself
  };

  std::unique_ptr<tok::BpeModel> model_;
  std::unique_ptr<tok::Normalizer> normalizer_;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer_;
  std::shared_ptr<const tok::Regex> byte_level_split_;  // fast path of pre_tokenizer_, or null
  std::unique_ptr<tok::Decoder> decoder_;
  std::unique_ptr<tok::AddedVocabulary> added_;
  Template template_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> has_token_;
  std::vector<bool> special_;
  std::optional<int32_t> bos_id_, eos_id_;
  bool clean_up_tokenization_spaces_ = false;
};

// Streams decoded text token by token. Each add() returns the text that became final with that
// token: it never ends inside a UTF-8 character (nor with a held-back U+FFFD from an incomplete
// byte sequence), and the concatenation of all add() results plus finish() equals
// tokenizer.decode(all ids, skip_special_tokens). Handles byte-level and byte-fallback pieces,
// metaspace/strip prefix rules and special tokens (skipped or kept).
// Cost: each step decodes a short window (the previous chunk plus pending tokens).
class IncrementalDetokenizer {
 public:
  IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens);

  // Feeds one id; returns the newly completed text (possibly empty). InvalidArgument for an id
  // outside the vocabulary (the state is unchanged then).
  Result<std::string> add(int32_t id);
  // End of stream: returns whatever is still held back (e.g. an incomplete byte sequence, as
  // U+FFFD) and resets the state for a new stream.
  std::string finish();

 private:
  const Tokenizer* tok_;
  bool skip_special_;
  std::vector<int32_t> window_;  // context chunk + pending ids
  size_t read_ = 0;              // window_[0, read_) is the context chunk (already emitted)
  std::string prefix_;           // decode(window_) as already emitted
};

}  // namespace mlxm
