#include "cloud/config_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

namespace mlxm::cloud {
namespace {

std::string errno_text() { return std::strerror(errno); }

std::string octal_mode(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  std::random_device rd;
  const std::filesystem::path tmp =
      path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(rd());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return unavailable("cannot create " + tmp.string() + ": " + errno_text());
  size_t off = 0;
  while (off < text.size()) {
    const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = errno_text();
      ::close(fd);
      ::unlink(tmp.c_str());
      return unavailable("cannot write " + tmp.string() + ": " + why);
    }
    off += static_cast<size_t>(n);
  }
  if (::fchmod(fd, 0600) != 0 || ::fsync(fd) != 0) {
    const std::string why = errno_text();
    ::close(fd);
    ::unlink(tmp.c_str());
    return unavailable("cannot sync " + tmp.string() + ": " + why);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    ::unlink(tmp.c_str());
    return unavailable("cannot replace " + path.string() + ": " + why);
  }
  // Make the rename durable.
  const std::string dir = path.has_parent_path() ? path.parent_path().string() : ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return ok_status();
}

Result<std::optional<nlohmann::json>> read_json_file(const std::filesystem::path& path,
                                                     bool require_private) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<nlohmann::json>();
    return unavailable("cannot read " + path.string() + ": " + errno_text());
  }
  if (require_private && (st.st_mode & 077) != 0) {
    return Status(StatusCode::kPermissionDenied,
                  path.string() + " holds API keys but has permissions " +
                      octal_mode(st.st_mode) + "; it must be 0600 (chmod 600 " + path.string() + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return unavailable("cannot open " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return invalid_argument(path.string() + " is not a JSON object");
  }
  return std::optional<nlohmann::json>(std::move(j));
}

}  // namespace mlxm::cloud
