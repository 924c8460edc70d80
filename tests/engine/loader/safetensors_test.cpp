#include "engine/loader/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>

#include <nlohmann/json.hpp>

#include "engine/test_util.h"

namespace mlxm::engine {
namespace {

using testing::TempDir;
using testing::write_file;

std::string with_len(const std::string& header, uint64_t len) {
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>(len >> (8 * i));
  return out + header;
}

// A file of `header` JSON text followed by `data_bytes` zero bytes.
std::string make_file(const std::string& header, size_t data_bytes) {
  return with_len(header, header.size()) + std::string(data_bytes, '\0');
}

Result<SafetensorsHeader> parse(const std::string& f) {
  return parse_safetensors_header(reinterpret_cast<const uint8_t*>(f.data()), f.size());
}

void expect_error(const std::string& file, const std::string& needle) {
  auto r = parse(file);
  ASSERT_FALSE(r.ok()) << "accepted: " << needle;
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
}

TEST(SafetensorsHeader, ParsesValidFile) {
  const std::string h =
      R"({"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[24,32]},"e":{"dtype":"U32","shape":[0,5],"data_offsets":[32,32]}})";
  auto r = parse(make_file(h, 32));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_EQ(r->tensors.size(), 3u);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  EXPECT_EQ(r->data_offset, 8 + h.size());
  for (const auto& t : r->tensors) {
    if (t.name == "a") {
      EXPECT_EQ(t.dtype, DType::kF32);
      EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
      EXPECT_EQ(t.end, 24u);
    }
  }
}

TEST(SafetensorsHeader, RejectsHostileHeaders) {
  const std::string ok_entry = R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  expect_error("abc", "too short");
  expect_error(with_len("{}", 1ull << 40), "exceeds the");  // huge length
  expect_error(with_len("{}", 5000) + std::string(100, ' '), "exceeds the file size");  // truncated
  expect_error(make_file("{\"a\":", 8), "not valid JSON");
  expect_error(make_file("[1,2]", 0), "not a JSON object");
  expect_error(make_file(R"({"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8), "Q7");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
               "!= dtype size x shape");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4),
               "exceed the data section");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8),
               "begin > end");
  expect_error(
      make_file("{" + ok_entry + R"(,"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
      "overlap");
  expect_error(
      make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})",
                8),
      "overflow");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
               "not a size");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}})", 8),
               "not a size");
  expect_error(make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8),
               "not a pair");
  expect_error(make_file(R"({"a":{"shape":[2],"data_offsets":[0,8]}})", 8), "dtype");
  expect_error(make_file(R"({"a":{"dtype":"F32","data_offsets":[0,8]}})", 8), "shape");
  expect_error(make_file(R"({"a":5})", 8), "not an object");
  expect_error(make_file("{" + ok_entry + "," + ok_entry + "}", 8), "twice");
  expect_error(
      make_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[18446744073709551615,8]}})", 8),
      "not an offset");
}

TEST(TensorStore, OpensSingleFileAndNamesFileInErrors) {
  TempDir dir;
  const std::string h = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  std::string f = make_file(h, 0);
  float vals[2] = {1.5f, -2.0f};
  f.append(reinterpret_cast<const char*>(vals), 8);
  write_file(dir.file("model.safetensors"), f);
  auto s = TensorStore::open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  const TensorView* v = (*s)->find("w");
  ASSERT_NE(v, nullptr);
  float second = 0;  // the data section need not be 4-byte aligned: read it bytewise
  std::memcpy(&second, static_cast<const char*>(v->data) + 4, sizeof second);
  EXPECT_EQ(second, -2.0f);
  EXPECT_EQ((*s)->find("missing"), nullptr);

  // Truncated: the error names the file.
  write_file(dir.file("model.safetensors"), f.substr(0, f.size() - 3));
  auto bad = TensorStore::open(dir.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.safetensors"), std::string::npos)
      << bad.status().to_string();
  EXPECT_NE(bad.status().message().find("'w'"), std::string::npos);
}

TEST(TensorStore, OpensShardsThroughIndex) {
  TempDir dir;
  write_file(dir.file("model-00001-of-00002.safetensors"),
             make_file(R"({"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4));
  write_file(dir.file("model-00002-of-00002.safetensors"),
             make_file(R"({"b":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2));
  nlohmann::json idx = {
      {"metadata", {{"total_size", 6}}},
      {"weight_map",
       {{"a", "model-00001-of-00002.safetensors"}, {"b", "model-00002-of-00002.safetensors"}}}};
  write_file(dir.file("model.safetensors.index.json"), idx.dump());
  auto s = TensorStore::open(dir.path());
  ASSERT_TRUE(s.ok()) << s.status().to_string();
  EXPECT_EQ((*s)->size(), 2u);
  EXPECT_NE((*s)->find("b"), nullptr);

  // The index points a tensor at the wrong shard.
  idx["weight_map"]["b"] = "model-00001-of-00002.safetensors";
  write_file(dir.file("model.safetensors.index.json"), idx.dump());
  auto wrong = TensorStore::open(dir.path());
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("'b'"), std::string::npos) << wrong.status().to_string();

  // Path escapes are refused.
  idx["weight_map"]["b"] = "../etc/passwd";
  write_file(dir.file("model.safetensors.index.json"), idx.dump());
  auto esc = TensorStore::open(dir.path());
  ASSERT_FALSE(esc.ok());
  EXPECT_NE(esc.status().message().find("plain file name"), std::string::npos);

  // A tensor present in two shards.
  write_file(dir.file("model-00002-of-00002.safetensors"),
             make_file(R"({"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}})", 2));
  idx["weight_map"]["b"] = "model-00002-of-00002.safetensors";
  write_file(dir.file("model.safetensors.index.json"), idx.dump());
  auto dup = TensorStore::open(dir.path());
  ASSERT_FALSE(dup.ok());
  EXPECT_NE(dup.status().message().find("another file"), std::string::npos)
      << dup.status().to_string();
}

TEST(TensorStore, MissingDirectoryIsNotFound) {
  auto s = TensorStore::open("/nonexistent/dir/for/mlxm");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace mlxm::engine
