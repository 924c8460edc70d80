// Shared set-up for the OpenAI e2e tests: a tiny random-weight model written once by
// `mlx-benchmark make-model`, and helpers to read SSE streams.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "e2e/harness/server_process.h"

namespace mlxm::e2e {

// The directory of a tiny q4 llama (Llama 3.1 tokenizer and chat template), made on first use.
const std::string& tiny_model_dir();
// The bundled, trained demo model (readable output).
std::string demo_model_dir();

// Options for a server serving `model_dir` (test routes off).
ServerOptions model_server(const std::string& model_dir,
                           std::map<std::string, std::string> env = {});

struct SseRead {
  int status = 0;
  std::vector<nlohmann::json> events;  // parsed data lines except [DONE]
  bool done = false;                   // saw data: [DONE]
  std::string raw_error;
};

// POSTs `body` and reads the whole event stream.
SseRead post_stream(const ServerProcess& server, const std::string& path, const nlohmann::json& body);
// The same with the body sent as given (key order kept, or deliberately malformed).
SseRead post_stream_body(const ServerProcess& server, const std::string& path,
                         const std::string& body);

// Concatenated delta contents of choice `index` of a chat stream.
std::string stream_text(const SseRead& r, int index = 0);

}  // namespace mlxm::e2e
