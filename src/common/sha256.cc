#include "common/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace modelfn {
namespace {

std::string Hex(const unsigned char* d, unsigned n) {
  static const char kHex[] = "0123456789abcdef";
  std::string s(n * 2, '0');
  for (unsigned i = 0; i < n; ++i) {
    s[2 * i] = kHex[d[i] >> 4];
    s[2 * i + 1] = kHex[d[i] & 15];
  }
  return s;
}

struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};

}  // namespace

std::string Sha256Hex(std::string_view bytes) {
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_Digest(bytes.data(), bytes.size(), d, &n, EVP_sha256(), nullptr);
  return Hex(d, n);
}

StatusOr<FileDigest> Sha256File(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFoundError("no such file: " + path);
    return UnavailableError("cannot open " + path + ": " + strerror(errno));
  }
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  FileDigest out;
  std::unique_ptr<char[]> buf(new char[1 << 20]);
  while (true) {
    ssize_t r = read(fd, buf.get(), 1 << 20);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      return UnavailableError("cannot read " + path + ": " + strerror(e));
    }
    if (r == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.get(), static_cast<size_t>(r));
    out.size += static_cast<uint64_t>(r);
  }
  close(fd);
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  EVP_DigestFinal_ex(ctx.get(), d, &n);
  out.sha256 = Hex(d, n);
  return out;
}

}  // namespace modelfn
