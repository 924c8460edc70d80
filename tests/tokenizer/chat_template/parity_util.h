// Test helper: renders cases with the C++ ChatTemplate and with Python jinja2 (through
// tools/template_parity/render.py, configured as transformers configures it) and compares.
#pragma once

// GCC 12 false positive in std::string concatenation (GCC bug 105329).
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#include "tokenizer/chat_template/chat_template.h"

namespace mlxm::test {

using ojson = nlohmann::ordered_json;

struct TemplateCase {
  std::string name;
  std::string tpl;        // template source, or
  std::string model_dir;  // a model directory (load())
  ojson context = ojson::object();
};

struct RenderOutcome {
  bool ok = false;
  std::string text;
  std::string kind;  // syntax | raise | runtime | limit
  std::string message;
};

inline const char* kPython = "/usr/bin/python3";
inline const char* kFixedNow = "2024-07-26T10:30:05.123456";

inline std::string source_path(const std::string& rel) { return std::string(MLXM_SOURCE_DIR) + "/" + rel; }

inline std::string run_capture(const std::string& cmd, int* status) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) {
    *status = -1;
    return out;
  }
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *status = pclose(p);
  return out;
}

// Fails the test (not skips) when the reference is unavailable.
inline bool python_jinja_available() {
  int st = 0;
  run_capture(std::string(kPython) + " -c 'import jinja2' 2>/dev/null", &st);
  if (st != 0) {
    ADD_FAILURE() << kPython << " with the jinja2 module is required for chat template parity tests "
                  << "(Debian package python3-jinja2, installed by scripts/setup)";
    return false;
  }
  return true;
}

inline std::vector<RenderOutcome> python_render(const std::vector<TemplateCase>& cases) {
  if (!python_jinja_available()) return {};
  ojson arr = ojson::array();
  for (const auto& c : cases) {
    ojson j = ojson::object();
    if (c.model_dir.empty()) {
      j["template"] = c.tpl;
    } else {
      j["model_dir"] = c.model_dir;
    }
    j["context"] = c.context;
    arr.push_back(j);
  }
  char path[] = "/tmp/mlxm_tpl_cases_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) {
    ADD_FAILURE() << "mkstemp failed";
    return {};
  }
  std::string data = arr.dump();
  if (write(fd, data.data(), data.size()) != static_cast<ssize_t>(data.size())) ADD_FAILURE() << "write failed";
  close(fd);
  setenv("MLX_MANAGER_TEMPLATE_NOW", kFixedNow, 1);
  int st = 0;
  std::string out = run_capture(std::string(kPython) + " " + source_path("tools/template_parity/render.py") +
                                    " --batch " + path,
                                &st);
  unlink(path);
  if (st != 0) {
    ADD_FAILURE() << "render.py failed (status " << st << "): " << out;
    return {};
  }
  ojson res = ojson::parse(out, nullptr, false);
  if (res.is_discarded() || !res.is_array() || res.size() != cases.size()) {
    ADD_FAILURE() << "render.py returned unexpected output: " << out.substr(0, 500);
    return {};
  }
  std::vector<RenderOutcome> r;
  for (const auto& x : res) {
    RenderOutcome o;
    o.ok = x["ok"].get<bool>();
    if (o.ok) {
      o.text = x["text"].get<std::string>();
    } else {
      o.kind = x["kind"].get<std::string>();
      o.message = x["message"].get<std::string>();
    }
    r.push_back(std::move(o));
  }
  return r;
}

inline RenderOutcome cpp_render(const TemplateCase& c) {
  setenv("MLX_MANAGER_TEMPLATE_NOW", kFixedNow, 1);
  RenderOutcome o;
  TemplateErrorKind kind = TemplateErrorKind::kNone;
  Result<ChatTemplate> t = c.model_dir.empty() ? ChatTemplate::parse(c.tpl, &kind) : ChatTemplate::load(c.model_dir);
  if (!t.ok()) {
    o.kind = c.model_dir.empty() ? template_error_kind_name(kind) : "load";
    o.message = t.status().message();
    return o;
  }
  Result<std::string> r = t->render(c.context, &kind);
  if (!r.ok()) {
    o.kind = template_error_kind_name(kind);
    o.message = r.status().message();
    return o;
  }
  o.ok = true;
  o.text = *r;
  return o;
}

inline std::string show(const std::string& s) { return ojson(s).dump(); }

// Renders every case both ways and expects identical text, or the same error kind (and, for
// raise_exception, the same message). Returns the number of cases that rendered successfully.
inline int expect_parity(const std::vector<TemplateCase>& cases) {
  std::vector<RenderOutcome> ref = python_render(cases);
  if (ref.size() != cases.size()) return 0;
  int n_ok = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    RenderOutcome got = cpp_render(cases[i]);
    const RenderOutcome& want = ref[i];
    SCOPED_TRACE("case " + cases[i].name + (cases[i].model_dir.empty() ? "\ntemplate: " + show(cases[i].tpl) : "") +
                 "\ncontext: " + cases[i].context.dump());
    if (want.ok) {
      EXPECT_TRUE(got.ok) << "python rendered " << show(want.text) << " but C++ failed: [" << got.kind << "] "
                          << got.message;
      if (got.ok) {
        EXPECT_EQ(show(got.text), show(want.text));
        ++n_ok;
      }
    } else {
      EXPECT_FALSE(got.ok) << "python failed with [" << want.kind << "] " << want.message << " but C++ rendered "
                           << show(got.text);
      if (!got.ok) {
        EXPECT_EQ(got.kind, want.kind) << "python: " << want.message << "\nC++: " << got.message;
        if (want.kind == "raise") {
          EXPECT_EQ(got.message, want.message);
        }
      }
    }
  }
  return n_ok;
}

inline ojson J(const char* text) { return ojson::parse(text); }

}  // namespace mlxm::test
