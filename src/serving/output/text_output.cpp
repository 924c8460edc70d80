#include "serving/output/text_output.h"

namespace mlxm::serving {

TextOutput::TextOutput(const Tokenizer& tokenizer, std::vector<std::string> stop_strings,
                       bool skip_special_tokens)
    : detok_(tokenizer, skip_special_tokens), stops_(std::move(stop_strings)) {}

TextOutput::Delta TextOutput::add(int32_t token) {
  Delta d;
  if (stops_.stopped()) {
    d.stopped = true;
    return d;
  }
  auto piece = detok_.add(token);
  if (!piece.ok()) return d;  // ids are sampled within the vocabulary; nothing to add
  auto step = stops_.feed(*piece);
  d.text = std::move(step.text);
  d.stopped = step.stopped;
  text_ += d.text;
  return d;
}

std::string TextOutput::finish() {
  if (stops_.stopped()) return {};
  std::string rest = stops_.feed(detok_.finish()).text;
  rest += stops_.flush();
  text_ += rest;
  return rest;
}

}  // namespace mlxm::serving
