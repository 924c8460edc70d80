#include "api/common/reply_text.h"

#include <algorithm>

namespace mlxm::api {

ReplyText::ReplyText(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                     bool skip_special_tokens, std::vector<int32_t> kept_ids)
    : tok_(&tokenizer),
      detok_(tokenizer, skip_special_tokens),
      stop_strings_(stop_strings),
      stops_(std::move(stop_strings)),
      kept_(std::move(kept_ids)) {}

void ReplyText::prime(std::span<const int32_t> ids) {
  for (int32_t id : ids) (void)detok_.add(id);
}

ReplyText::Delta ReplyText::feed(const std::string& piece) {
  raw_ += piece;
  auto step = stops_.feed(piece);
  text_ += step.text;
  if (step.stopped && stop_sequence_.empty()) {
    // The matched stop string starts right where the released text ends.
    for (const std::string& s : stop_strings_) {
      if (raw_.compare(text_.size(), s.size(), s) == 0) {
        stop_sequence_ = s;
        break;
      }
    }
  }
  return {std::move(step.text), step.stopped};
}

ReplyText::Delta ReplyText::add(int32_t token) {
  if (stops_.stopped()) return {"", true};
  auto piece = detok_.add(token);
  if (!piece.ok()) return {};  // ids are sampled within the vocabulary; nothing to add
  std::string text = std::move(*piece);
  if (std::find(kept_.begin(), kept_.end(), token) != kept_.end()) {
    text += tok_->id_to_token(token).value_or("");
  }
  return feed(text);
}

std::string ReplyText::finish() {
  if (stops_.stopped()) return {};
  std::string rest = feed(detok_.finish()).text;
  if (stops_.stopped()) return rest;
  std::string held = stops_.flush();
  text_ += held;
  return rest + held;
}

std::vector<int32_t> special_marker_ids(const Tokenizer& tokenizer,
                                        const std::vector<std::string>& markers) {
  std::vector<int32_t> ids;
  for (const std::string& m : markers) {
    auto id = tokenizer.token_to_id(m);
    if (id && tokenizer.is_special(*id)) ids.push_back(*id);
  }
  return ids;
}

}  // namespace mlxm::api
