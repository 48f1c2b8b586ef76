// TLS on the gateway's listener, optionally mutual (client certificates checked against a CA):
// a TLS terminator in front of the plain gateway, which then listens on a private loopback port.
// Each TLS connection gets a thread that does the handshake (10 s limit) and then relays bytes
// both ways; a client without a certificate the CA signed never reaches the gateway. When the
// gateway closes first (an answer given before the body was read), the relay sends the answer and
// close_notify, then reads and drops what the client still sends (up to 2 s and 1 MiB) before it
// closes, so the answer is read rather than overtaken by a TCP reset.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

typedef struct ssl_ctx_st SSL_CTX;

namespace modelfn {

struct TlsConfig {
  std::string cert;       // server certificate chain (PEM)
  std::string key;        // its private key (PEM)
  std::string client_ca;  // "" = TLS only; else clients must present a certificate it signed
};

class TlsFront {
 public:
  // Loads the certificates and binds host:port. Errors: InvalidArgument (unreadable or
  // mismatched PEM files), Unavailable (cannot listen).
  static StatusOr<std::unique_ptr<TlsFront>> Create(const TlsConfig& config,
                                                    const std::string& host, int port,
                                                    int backend_port);
  ~TlsFront();
  int port() const { return port_; }
  // Accepts until Shutdown(), then waits for the relays to end.
  void Run();
  void Shutdown();
  // Stops listening: new connections are refused, relays in progress go on. Thread-safe.
  void StopAccepting();

 private:
  TlsFront(SSL_CTX* ctx, int listen_fd, int port, int backend_port)
      : ctx_(ctx), listen_fd_(listen_fd), port_(port), backend_port_(backend_port) {}
  void Serve(int fd);
  void Linger(int fd);  // after our side is done: drain the client, bounded, then return

  static constexpr int kLingerMs = 2000;
  static constexpr size_t kLingerBytes = 1 << 20;

  SSL_CTX* ctx_;
  int listen_fd_;
  int port_;
  int backend_port_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> listener_shut_{false};
  std::mutex mu_;
  std::condition_variable done_;
  int relays_ = 0;  // detached relay threads still running
  std::vector<int> open_fds_;
};

}  // namespace modelfn
