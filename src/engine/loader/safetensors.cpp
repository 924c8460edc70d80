#include "engine/loader/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace mlxm::engine {
namespace {

using nlohmann::json;

Status tensor_error(const std::string& name, const std::string& why) {
  return invalid_argument("tensor '" + name + "': " + why);
}

// A non-negative integer that fits in int64.
bool as_u63(const json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) {
    if (v.is_number_integer() && v.get<int64_t>() >= 0) {
      *out = static_cast<uint64_t>(v.get<int64_t>());
      return true;
    }
    return false;
  }
  uint64_t u = v.get<uint64_t>();
  if (u > static_cast<uint64_t>(INT64_MAX)) return false;
  *out = u;
  return true;
}

Status parse_entry(const std::string& name, const json& e, uint64_t data_size, TensorInfo* t) {
  if (!e.is_object()) return tensor_error(name, "entry is not an object");
  t->name = name;
  auto dt = e.find("dtype");
  if (dt == e.end() || !dt->is_string()) return tensor_error(name, "missing or non-string dtype");
  auto parsed = parse_dtype(dt->get_ref<const std::string&>());
  if (!parsed.ok()) return tensor_error(name, parsed.status().message());
  t->dtype = parsed.value();
  auto sh = e.find("shape");
  if (sh == e.end() || !sh->is_array()) return tensor_error(name, "missing or non-list shape");
  if (sh->size() > 16) return tensor_error(name, "shape has more than 16 dimensions");
  uint64_t n_elem = 1;
  for (const auto& d : *sh) {
    uint64_t v = 0;
    if (!as_u63(d, &v)) return tensor_error(name, "shape holds a value that is not a size");
    if (__builtin_mul_overflow(n_elem, v, &n_elem) || n_elem > static_cast<uint64_t>(INT64_MAX)) {
      return tensor_error(name, "shape product overflows");
    }
    t->shape.push_back(static_cast<int64_t>(v));
  }
  uint64_t n_bytes = 0;
  if (__builtin_mul_overflow(n_elem, static_cast<uint64_t>(dtype_size(t->dtype)), &n_bytes)) {
    return tensor_error(name, "byte size overflows");
  }
  auto off = e.find("data_offsets");
  if (off == e.end() || !off->is_array() || off->size() != 2) {
    return tensor_error(name, "data_offsets is not a pair");
  }
  if (!as_u63((*off)[0], &t->begin) || !as_u63((*off)[1], &t->end)) {
    return tensor_error(name, "data_offsets hold a value that is not an offset");
  }
  if (t->begin > t->end) return tensor_error(name, "data_offsets begin > end");
  if (t->end > data_size) {
    return data_loss("tensor '" + name + "': data_offsets [" + std::to_string(t->begin) + ", " +
                     std::to_string(t->end) + ") exceed the data section (" +
                     std::to_string(data_size) + " bytes; truncated file?)");
  }
  if (t->end - t->begin != n_bytes) {
    return tensor_error(name, "byte range " + std::to_string(t->end - t->begin) +
                                  " != dtype size x shape = " + std::to_string(n_bytes));
  }
  return ok_status();
}

}  // namespace

int64_t TensorInfo::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* file, size_t file_size) {
  if (file_size < 8) {
    return data_loss("file is " + std::to_string(file_size) + " bytes, too short for a header");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | file[i];
  if (n > kMaxSafetensorsHeader) {
    return invalid_argument("header length " + std::to_string(n) + " exceeds the " +
                            std::to_string(kMaxSafetensorsHeader) + "-byte limit");
  }
  if (n > file_size - 8) {
    return data_loss("header length " + std::to_string(n) + " exceeds the file size " +
                     std::to_string(file_size) + " (truncated file?)");
  }
  if (n < 2) return invalid_argument("header length " + std::to_string(n) + " is too short");
  SafetensorsHeader h;
  h.data_offset = 8 + n;
  const uint64_t data_size = file_size - h.data_offset;
  const char* text = reinterpret_cast<const char*>(file + 8);
  json j;
  std::string duplicate;
  try {
    std::set<std::string> seen;
    // Detects duplicate top-level names (JSON objects keep only the last one).
    json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
      if (ev == json::parse_event_t::key && depth == 1 && parsed.is_string()) {
        if (!seen.insert(parsed.get<std::string>()).second && duplicate.empty()) {
          duplicate = parsed.get<std::string>();
        }
      }
      return true;
    };
    j = json::parse(text, text + n, cb);
  } catch (const json::exception& e) {
    return invalid_argument(std::string("header is not valid JSON: ") + e.what());
  }
  if (!duplicate.empty()) return invalid_argument("header names tensor '" + duplicate + "' twice");
  if (!j.is_object()) return invalid_argument("header is not a JSON object");
  h.tensors.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) return invalid_argument("__metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (m->is_string()) h.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    TensorInfo t;
    MLXM_RETURN_IF_ERROR(parse_entry(it.key(), *it, data_size, &t));
    h.tensors.push_back(std::move(t));
  }
  // Non-overlapping byte ranges (empty tensors may sit anywhere).
  std::vector<const TensorInfo*> sorted;
  for (const auto& t : h.tensors) {
    if (t.end > t.begin) sorted.push_back(&t);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->begin < sorted[i - 1]->end) {
      return invalid_argument("tensors '" + sorted[i - 1]->name + "' and '" + sorted[i]->name +
                              "' overlap");
    }
  }
  return h;
}

// ---- MappedFile ----

Result<MappedFile> MappedFile::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return not_found("cannot open " + path + ": " + std::strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return invalid_argument(path + " is not a regular file");
  }
  MappedFile m;
  m.path_ = path;
  m.size_ = static_cast<size_t>(st.st_size);
  if (m.size_ == 0) {
    ::close(fd);
    return data_loss(path + " is empty");
  }
  void* p = mmap(nullptr, m.size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED)
    return resource_exhausted("cannot map " + path + ": " + std::strerror(errno));
  m.data_ = static_cast<const uint8_t*>(p);
  return m;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
}

MappedFile::MappedFile(MappedFile&& o) noexcept
    : data_(o.data_), size_(o.size_), path_(std::move(o.path_)) {
  o.data_ = nullptr;
  o.size_ = 0;
}

MappedFile& MappedFile::operator=(MappedFile&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
    data_ = o.data_;
    size_ = o.size_;
    path_ = std::move(o.path_);
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

// ---- TensorStore ----

Status TensorStore::add_file(const std::string& path) {
  MLXM_ASSIGN_OR_RETURN(MappedFile map, MappedFile::open(path));
  auto header = parse_safetensors_header(map.data(), map.size());
  if (!header.ok()) return header.status().with_context(path);
  auto f = std::make_unique<File>();
  f->map = std::move(map);
  f->header = std::move(header).value();
  // Posix advice: weights are read sequentially once while packing.
  madvise(const_cast<uint8_t*>(f->map.data()), f->map.size(), MADV_SEQUENTIAL);
  for (const auto& t : f->header.tensors) {
    TensorView v;
    v.info = &t;
    v.data = f->map.data() + f->header.data_offset + t.begin;
    v.file = &f->map.path();
    if (!views_.emplace(t.name, v).second) {
      return invalid_argument(path + ": tensor '" + t.name + "' also appears in another file");
    }
  }
  files_.push_back(std::move(f));
  return ok_status();
}

Result<std::unique_ptr<TensorStore>> TensorStore::open_files(
    const std::vector<std::string>& paths) {
  auto store = std::unique_ptr<TensorStore>(new TensorStore());
  for (const auto& p : paths) MLXM_RETURN_IF_ERROR(store->add_file(p));
  return store;
}

Result<std::unique_ptr<TensorStore>> TensorStore::open(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string index_path = dir + "/model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    std::ifstream in(index_path, std::ios::binary);
    if (!in) return not_found("cannot open " + index_path);
    std::ostringstream ss;
    ss << in.rdbuf();
    std::map<std::string, std::vector<std::string>> by_file;  // shard -> tensor names
    try {
      json j = json::parse(ss.str());
      auto wm = j.find("weight_map");
      if (!j.is_object() || wm == j.end() || !wm->is_object()) {
        return invalid_argument(index_path + ": missing 'weight_map' object");
      }
      for (auto it = wm->begin(); it != wm->end(); ++it) {
        if (!it->is_string())
          return invalid_argument(index_path + ": weight_map value of '" + it.key() +
                                  "' is not a file name");
        const std::string f = it->get<std::string>();
        if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos ||
            f == "." || f == "..") {
          return invalid_argument(index_path + ": shard name '" + f + "' is not a plain file name");
        }
        by_file[f].push_back(it.key());
      }
    } catch (const json::exception& e) {
      return invalid_argument(index_path + ": malformed JSON: " + e.what());
    }
    if (by_file.empty()) return invalid_argument(index_path + ": weight_map is empty");
    std::vector<std::string> paths;
    for (const auto& [f, _] : by_file) paths.push_back(dir + "/" + f);
    MLXM_ASSIGN_OR_RETURN(auto store, open_files(paths));
    for (const auto& [f, names] : by_file) {
      for (const auto& n : names) {
        const TensorView* v = store->find(n);
        if (v == nullptr || *v->file != dir + "/" + f) {
          return invalid_argument(index_path + ": tensor '" + n + "' is not in shard " + f);
        }
      }
    }
    return store;
  }
  const std::string single = dir + "/model.safetensors";
  if (fs::exists(single, ec)) return open_files({single});
  std::vector<std::string> paths;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".safetensors") paths.push_back(e.path().string());
  }
  if (ec) return not_found("cannot list " + dir + ": " + ec.message());
  if (paths.empty()) return not_found("no .safetensors files in " + dir);
  std::sort(paths.begin(), paths.end());
  return open_files(paths);
}

const TensorView* TensorStore::find(const std::string& name) const {
  auto it = views_.find(name);
  return it == views_.end() ? nullptr : &it->second;
}

void TensorStore::release(const TensorView& v) const {
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<uintptr_t>(v.data);
  const uintptr_t lo = (begin + page - 1) / page * page;  // whole pages inside the tensor only
  const uintptr_t hi = (begin + v.n_bytes()) / page * page;
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

std::vector<std::string> TensorStore::names() const {
  std::vector<std::string> out;
  out.reserve(views_.size());
  for (const auto& [n, _] : views_) out.push_back(n);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace mlxm::engine
