// What the cold-start benchmarks share (coldstart_probe.cc, template_coldstart.cc): the request
// they send and the check that a server answers it, one fresh loopback connection per try, so
// every contender's first answer is measured the same way. Header only: each is one small binary.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace modelfn::bench {

// The whole file, or "" when it cannot be read.
inline std::string ReadFileText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// POST /v1/infer with `body` as JSON, asking the server to close after answering (so the answer
// ends at EOF and a try costs no keep-alive bookkeeping).
inline std::string InferRequest(const std::string& body) {
  return "POST /v1/infer HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
         "Connection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Sends `request` on a fresh connection to 127.0.0.1:`port` and reads to EOF (giving up after 2 s
// of silence). True only when the answer starts "HTTP/1.1 200"; false when nothing listens yet.
inline bool AnswersOk(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{2, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  bool ok = false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    std::string got;
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
    ok = got.rfind("HTTP/1.1 200", 0) == 0;
  }
  close(fd);
  return ok;
}

}  // namespace modelfn::bench
