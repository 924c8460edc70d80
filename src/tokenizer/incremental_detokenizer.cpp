#include <string>

#include "tokenizer/text.h"
#include "tokenizer/tokenizer.h"

namespace mlxm {

namespace {

bool ends_with_replacement(const std::string& s) {
  return s.size() >= 3 && s.compare(s.size() - 3, 3, "\xEF\xBF\xBD") == 0;
}

}  // namespace

IncrementalDetokenizer::IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tok_(&tokenizer), skip_special_(skip_special_tokens) {}

Result<std::string> IncrementalDetokenizer::add(int32_t id) {
  window_.push_back(id);
  auto text = tok_->decode_impl(window_, skip_special_);
  if (!text.ok()) {
    window_.pop_back();
    return text.status();
  }
  const std::string& t = text.value();
  if (t.size() <= prefix_.size() || ends_with_replacement(t)) return std::string();
  std::string out = t.substr(prefix_.size());
  // The emitted chunk becomes the context of the next window: decoders whose output for a token
  // depends on its neighbours (leading-space strip, byte runs) see the same context again.
  window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(read_));
  read_ = window_.size();
  auto p = tok_->decode_impl(window_, skip_special_);
  prefix_ = p.ok() ? std::move(p).value() : std::string();
  return out;
}

std::string IncrementalDetokenizer::finish() {
  std::string out;
  auto t = tok_->decode_impl(window_, skip_special_);
  if (t.ok() && t.value().size() > prefix_.size()) out = t.value().substr(prefix_.size());
  window_.clear();
  read_ = 0;
  prefix_.clear();
  return out;
}

}  // namespace mlxm
