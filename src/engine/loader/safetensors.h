// safetensors reading (DESIGN §4): a header parser that validates every field, memory-mapped
// files, and a tensor store over a model directory (single file or sharded with
// model.safetensors.index.json).
// Thread-safety: parse_safetensors_header is pure; a TensorStore is immutable after open() and
// may be read from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/tensor/dtype.h"

namespace mlxm::engine {

// One tensor entry of a safetensors header. Offsets are relative to the data section.
struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // data_offsets[0]
  uint64_t end = 0;    // data_offsets[1]
  int64_t n_elements() const;
};

struct SafetensorsHeader {
  uint64_t data_offset = 0;         // 8 + header length: where the data section starts in the file
  std::vector<TensorInfo> tensors;  // in header order
  std::map<std::string, std::string> metadata;  // "__metadata__" (string values only)
};

// The largest header we accept (the reference implementation uses the same 100 MB cap).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;

// Parses and validates the header of a safetensors file whose full contents are `file`
// (`file_size` bytes; only the first 8 + N bytes are read as JSON, offsets are checked against
// the remaining size). Checks: header length sane vs file size and cap, JSON well-formed object,
// no duplicate names, dtype known, shape non-negative integers with no overflow, data_offsets
// in range, end - begin == dtype size × product(shape), tensors non-overlapping. Errors are
// InvalidArgument/DataLoss whose message names the tensor at fault (callers add the file name).
// Never crashes on any input.
Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* file, size_t file_size);

// A read-only memory mapping of a whole file. Movable, unmaps on destruction.
class MappedFile {
 public:
  static Result<MappedFile> open(const std::string& path);
  MappedFile() = default;
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  std::string path_;
};

// A tensor inside a mapped file.
struct TensorView {
  const TensorInfo* info = nullptr;
  const void* data = nullptr;         // info->end - info->begin bytes
  const std::string* file = nullptr;  // path of the file holding it
  DType dtype() const { return info->dtype; }
  const std::vector<int64_t>& shape() const { return info->shape; }
  size_t n_bytes() const { return static_cast<size_t>(info->end - info->begin); }
};

// All tensors of a model directory. Keeps its files mapped for its lifetime.
class TensorStore {
 public:
  // Opens <dir>/model.safetensors.index.json (sharded) if present, else <dir>/model.safetensors,
  // else every *.safetensors in dir. Validates every header and the index (shard names stay in
  // dir, every listed tensor exists in its shard, no tensor in two shards).
  static Result<std::unique_ptr<TensorStore>> open(const std::string& dir);
  // Opens exactly these files (tests, tools).
  static Result<std::unique_ptr<TensorStore>> open_files(const std::vector<std::string>& paths);

  const TensorView* find(const std::string& name) const;
  // Drops the tensor's pages from memory (they are re-read from the file if touched again):
  // call after copying it out, so loading peaks at the packed weights, not twice the model.
  void release(const TensorView& v) const;
  // Names of all tensors, sorted.
  std::vector<std::string> names() const;
  size_t size() const { return views_.size(); }

 private:
  struct File {
    MappedFile map;
    SafetensorsHeader header;
  };
  Status add_file(const std::string& path);
  std::vector<std::unique_ptr<File>> files_;
  std::unordered_map<std::string, TensorView> views_;
};

}  // namespace mlxm::engine
