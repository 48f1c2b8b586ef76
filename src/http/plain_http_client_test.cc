#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "http/http_client.h"

namespace modelfn {
namespace {

// A one-connection server on loopback that reads one request head and answers `response` as is.
class CannedServer {
 public:
  explicit CannedServer(std::string response) : response_(std::move(response)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 1), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      std::string head;
      char buf[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        head.append(buf, static_cast<size_t>(n));
      }
      ssize_t ignored = send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      (void)ignored;
      shutdown(c, SHUT_WR);
      while (recv(c, buf, sizeof buf, 0) > 0) {
      }
      close(c);
    });
  }
  ~CannedServer() {
    thread_.join();
    close(fd_);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

 private:
  std::string response_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

StatusOr<HttpReply> Get(const CannedServer& s, uint64_t max_bytes) {
  HttpCall call;
  call.url = s.url();
  call.max_response_bytes = max_bytes;
  call.stall_timeout_s = 5;
  return MakePlainHttpClient()->Send(call);
}

TEST(PlainHttpClientTest, ReadsChunkedAndSizedBodies) {
  CannedServer chunked(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: "
      "chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto r = Get(chunked, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "abcde");
  CannedServer sized("HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\nwxyz");
  r = Get(sized, 4);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "wxyz");
}

// A body far larger than one read arrives whole; bytes after a sized body are not part of it;
// a Content-Length far beyond what comes (a peer that lies, then closes) fails the exchange
// without reserving that much.
TEST(PlainHttpClientTest, LargeSizedBodiesArriveWholeAndLiesAboutTheirSizeFail) {
  std::string big(3 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  CannedServer large("HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(big.size()) +
                     "\r\n\r\n" + big);
  auto r = Get(large, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body.size(), big.size());
  EXPECT_TRUE(r->body == big);
  CannedServer trailing("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcHTTP/1.1 200 OK\r\n");
  r = Get(trailing, 0);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "abc");
  CannedServer liar("HTTP/1.1 200 OK\r\nContent-Length: 999999999999999\r\n\r\nonly this");
  r = Get(liar, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
}

TEST(PlainHttpClientTest, ChunkSizeThatWouldWrapIsRefused) {
  CannedServer s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx");
  auto r = Get(s, 0);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad chunk size"), std::string::npos)
      << r.status().ToString();
}

TEST(PlainHttpClientTest, NegativeOrGarbledContentLengthIsRefused) {
  for (const char* cl : {"-1", "12abc", "99999999999999999999"}) {
    CannedServer s(std::string("HTTP/1.1 200 OK\r\nContent-Length: ") + cl + "\r\n\r\nhello");
    auto r = Get(s, 0);
    EXPECT_FALSE(r.ok()) << cl;
  }
}

TEST(PlainHttpClientTest, ResponsesOverTheLimitAreRefusedWhateverTheirFraming) {
  for (const char* response : {"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world",
                               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello "
                               "\r\n5\r\nworld\r\n0\r\n\r\n",
                               "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello world"}) {
    CannedServer s(response);
    auto r = Get(s, 10);
    ASSERT_FALSE(r.ok()) << response;
    EXPECT_EQ(r.status().reason(), "response_too_large") << response;
  }
}

TEST(PlainHttpClientTest, ARefusedConnectionFailsAtConnect) {
  // Bound but not listening: the kernel refuses the connection.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  HttpCall call;
  call.url = "http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)) + "/";
  HttpFailure failure = HttpFailure::kExchange;
  call.failure = &failure;
  auto r = MakePlainHttpClient()->Send(call);
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failure, HttpFailure::kConnect);
  // The kind stays out of the status: its reason is for problem codes.
  EXPECT_EQ(r.status().reason(), "");
}

TEST(PlainHttpClientTest, AConnectionClosedAfterTheRequestFailsInTheExchange) {
  CannedServer s("");  // reads the request, then closes without a word
  HttpCall call;
  call.url = s.url();
  call.stall_timeout_s = 5;
  HttpFailure failure = HttpFailure::kNone;
  call.failure = &failure;
  auto r = MakePlainHttpClient()->Send(call);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(failure, HttpFailure::kExchange) << r.status().ToString();
}

TEST(PlainHttpClientTest, ASuccessReportsNoFailure) {
  CannedServer s("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  HttpCall call;
  call.url = s.url();
  HttpFailure failure = HttpFailure::kConnect;
  call.failure = &failure;
  auto r = MakePlainHttpClient()->Send(call);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(failure, HttpFailure::kNone);
}

}  // namespace
}  // namespace modelfn
