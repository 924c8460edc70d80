#include "api/http/static_files.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace mlxm::http {
namespace fs = std::filesystem;

std::string content_type_for(std::string_view filename) {
  struct Entry {
    const char* ext;
    const char* type;
  };
  static constexpr Entry kTypes[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".json", "application/json"},
      {".svg", "image/svg+xml"},             {".png", "image/png"},
      {".jpg", "image/jpeg"},                {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},                 {".ico", "image/x-icon"},
      {".webp", "image/webp"},               {".woff2", "font/woff2"},
      {".woff", "font/woff"},                {".txt", "text/plain; charset=utf-8"},
      {".map", "application/json"},          {".wasm", "application/wasm"},
  };
  size_t dot = filename.rfind('.');
  if (dot != std::string_view::npos) {
    std::string_view ext = filename.substr(dot);
    for (const auto& e : kTypes) {
      if (iequals(ext, e.ext)) return e.type;
    }
  }
  return "application/octet-stream";
}

std::optional<HttpResponse> serve_static_file(const std::string& root, std::string_view path) {
  if (root.empty() || path.empty() || path.front() != '/') return std::nullopt;
  if (path.find('\0') != std::string_view::npos || path.find('\\') != std::string_view::npos) {
    return std::nullopt;
  }
  fs::path rel;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string_view seg =
        path.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (seg == "..") return std::nullopt;
    if (!seg.empty() && seg != ".") rel /= std::string(seg);
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::error_code ec;
  fs::path base = fs::canonical(root, ec);
  if (ec) return std::nullopt;
  fs::path file = base / rel;
  if (fs::is_directory(file, ec)) file /= "index.html";
  fs::path real = fs::canonical(file, ec);
  if (ec || !fs::is_regular_file(real, ec)) return std::nullopt;
  // Containment after resolving links: real must be base or below it.
  auto [b, r] = std::mismatch(base.begin(), base.end(), real.begin(), real.end());
  if (b != base.end()) return std::nullopt;
  std::ifstream in(real, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  HttpResponse resp = HttpResponse::text(200, ss.str(), content_type_for(real.filename().string()));
  resp.headers.set("Cache-Control", "no-cache");
  return resp;
}

}  // namespace mlxm::http
