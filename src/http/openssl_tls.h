// TLS for HttpServer with OpenSSL: certificates and settings loaded once into one context that
// every connection of every loop shares (SSL_CTX is thread-safe once built), and a non-blocking
// session per connection reading and writing the socket itself (SSL_set_fd; WANT_READ /
// WANT_WRITE map to the loop's epoll interest).
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "http/tls_session.h"

namespace modelfn {

struct TlsConfig {
  std::string cert;       // server certificate chain (PEM)
  std::string key;        // its private key (PEM)
  std::string client_ca;  // "" = TLS only; else clients must present a certificate it signed
};

// Loads the chain and key (and the client CA: mutual TLS, a client without a certificate it
// signed fails the handshake). TLS 1.2 is the minimum; renegotiation is off; a peer that closes
// without close_notify reads as an ordinary end of stream. Errors: InvalidArgument for an
// unreadable or malformed PEM file or a key that does not match the certificate.
StatusOr<std::shared_ptr<TlsServer>> MakeOpenSslTlsServer(const TlsConfig& config);

}  // namespace modelfn
