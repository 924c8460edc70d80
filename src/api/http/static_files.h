// Static file serving for the UI. Framework-free; thread-safe (reads the file system only).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "api/http/http_types.h"

namespace mlxm::http {

// The file under `root` for the decoded request path `path` ("/" and directories serve
// index.html), or nullopt when there is none. Paths with "..", NUL or backslashes, and files
// that resolve (through links) outside `root`, are never served.
std::optional<HttpResponse> serve_static_file(const std::string& root, std::string_view path);

// "text/html; charset=utf-8" for "x.html", ... "application/octet-stream" when unknown.
std::string content_type_for(std::string_view filename);

}  // namespace mlxm::http
