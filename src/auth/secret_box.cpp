#include "auth/secret_box.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "auth/crypto.h"
#include "store/database.h"

namespace mlxm::auth {
namespace {

constexpr std::string_view kPrefix = "sb1:";
static_assert(crypto_secretbox_KEYBYTES == 32);

Status read_key(int fd, const std::string& path, unsigned char* key) {
  struct stat st {};
  if (::fstat(fd, &st) != 0)
    return internal_error("cannot stat " + path + ": " + std::strerror(errno));
  if ((st.st_mode & 077) != 0) {
    return Status(
        StatusCode::kPermissionDenied,
        "the secret key file " + path + " is accessible by other users; run: chmod 600 " + path);
  }
  if (st.st_size != crypto_secretbox_KEYBYTES) {
    return data_loss("the secret key file " + path + " has " + std::to_string(st.st_size) +
                     " bytes, expected " + std::to_string(crypto_secretbox_KEYBYTES));
  }
  size_t got = 0;
  while (got < crypto_secretbox_KEYBYTES) {
    ssize_t n = ::read(fd, key + got, crypto_secretbox_KEYBYTES - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return data_loss("cannot read the secret key file " + path);
    got += static_cast<size_t>(n);
  }
  return ok_status();
}

}  // namespace

Result<SecretBox> SecretBox::open_or_create(const std::filesystem::path& key_file) {
  (void)random_hex(1);  // initialises libsodium
  const std::string path = key_file.string();
  SecretBox box;
  // Create it exclusively; when another process won the race (or it exists), read it.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    randombytes_buf(box.key_.data(), box.key_.size());
    size_t put = 0;
    while (put < box.key_.size()) {
      ssize_t n = ::write(fd, box.key_.data() + put, box.key_.size() - put);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ::close(fd);
        ::unlink(path.c_str());
        return internal_error("cannot write the secret key file " + path + ": " +
                              std::strerror(errno));
      }
      put += static_cast<size_t>(n);
    }
    ::fsync(fd);
    ::close(fd);
    return box;
  }
  if (errno != EEXIST) {
    return internal_error("cannot create the secret key file " + path + ": " +
                          std::strerror(errno));
  }
  fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return internal_error("cannot open the secret key file " + path + ": " + std::strerror(errno));
  Status st = read_key(fd, path, box.key_.data());
  ::close(fd);
  if (!st.ok()) return st;
  return box;
}

Result<SecretBox> SecretBox::open_default() {
  MLXM_ASSIGN_OR_RETURN(std::filesystem::path home, store::manager_home());
  return open_or_create(home / kSecretKeyFileName);
}

std::string SecretBox::seal(std::string_view plaintext) const {
  std::string raw(crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + plaintext.size(), '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(raw.data());
  randombytes_buf(nonce, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(nonce + crypto_secretbox_NONCEBYTES,
                        reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                        nonce, key_.data());
  return std::string(kPrefix) + base64_encode(raw);
}

bool SecretBox::looks_sealed(std::string_view text) {
  return text.substr(0, kPrefix.size()) == kPrefix;
}

Result<std::string> SecretBox::open(std::string_view sealed) const {
  if (!looks_sealed(sealed)) return invalid_argument("not a sealed secret (no 'sb1:' prefix)");
  Result<std::string> raw = base64_decode(sealed.substr(kPrefix.size()));
  if (!raw.ok() || raw->size() < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    return invalid_argument("a sealed secret is malformed");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(raw->data());
  const unsigned char* box = nonce + crypto_secretbox_NONCEBYTES;
  const size_t n_box = raw->size() - crypto_secretbox_NONCEBYTES;
  std::string out(n_box - crypto_secretbox_MACBYTES, '\0');
  if (crypto_secretbox_open_easy(reinterpret_cast<unsigned char*>(out.data()), box, n_box, nonce,
                                 key_.data()) != 0) {
    return data_loss(
        "a sealed secret failed authentication (tampered with, or sealed under another key)");
  }
  return out;
}

}  // namespace mlxm::auth
