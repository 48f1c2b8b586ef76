#include "http/response_writer.h"

#include <gtest/gtest.h>

#include <string>

namespace modelfn {
namespace {

std::string Head(const std::string& response) {
  return response.substr(0, response.find("\r\n\r\n"));
}

TEST(ResponseWriterTest, WritesStatusLineLengthAndConnection) {
  HttpResponse r;
  r.status = 404;
  r.body = "{}";
  std::string out;
  AppendResponse(r, true, false, &out);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nContent-Length: 2\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: keep-alive\r\n\r\n{}"), std::string::npos) << out;
  out.clear();
  AppendResponse(r, false, false, &out);
  EXPECT_NE(out.find("\r\nConnection: close\r\n\r\n{}"), std::string::npos) << out;
}

TEST(ResponseWriterTest, StatusOutsideTheFinalRangeIsWrittenAs500) {
  for (int status : {0, 100, 199, 600, -1}) {
    HttpResponse r;
    r.status = status;
    std::string out;
    AppendResponse(r, true, false, &out);
    EXPECT_EQ(out.rfind("HTTP/1.1 500 Internal Server Error\r\n", 0), 0u) << status;
  }
}

TEST(ResponseWriterTest, HeadAnswerKeepsTheLengthAndDropsTheBody) {
  HttpResponse r;
  r.body = "hello";
  std::string out;
  AppendResponse(r, true, true, &out);
  EXPECT_NE(out.find("Content-Length: 5"), std::string::npos);
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n") << out;
}

TEST(ResponseWriterTest, FramingAndInvalidHandlerHeadersAreDropped) {
  HttpResponse r;
  r.headers = {
      {"Transfer-Encoding", "chunked"},       {"connection", "upgrade"}, {"Content-Length", "999"},
      {"X-Split", "a\r\nSet-Cookie: evil=1"}, {"Bad Name", "v"},         {"X-Kept", "yes\tok"}};
  r.body = "abc";
  std::string out;
  AppendResponse(r, true, false, &out);
  std::string head = Head(out);
  EXPECT_EQ(head.find("chunked"), std::string::npos) << head;
  EXPECT_EQ(head.find("upgrade"), std::string::npos) << head;
  EXPECT_EQ(head.find("999"), std::string::npos) << head;
  EXPECT_EQ(head.find("evil"), std::string::npos) << head;
  EXPECT_EQ(head.find("Bad Name"), std::string::npos) << head;
  EXPECT_NE(head.find("\r\nX-Kept: yes\tok"), std::string::npos) << head;
  EXPECT_NE(head.find("Content-Length: 3"), std::string::npos) << head;
}

TEST(ResponseWriterTest, InvalidContentTypeFallsBackToOctetStream) {
  HttpResponse r;
  r.content_type = "text/plain\r\nX-Evil: 1";
  std::string out;
  AppendResponse(r, true, false, &out);
  EXPECT_NE(out.find("Content-Type: application/octet-stream"), std::string::npos) << out;
  EXPECT_EQ(out.find("X-Evil"), std::string::npos) << out;
}

TEST(ResponseWriterTest, ReasonPhrases) {
  EXPECT_STREQ(ReasonPhrase(413), "Content Too Large");
  EXPECT_STREQ(ReasonPhrase(503), "Service Unavailable");
  EXPECT_STREQ(ReasonPhrase(299), "Status");
}

TEST(ResponseWriterTest, SafeRequestIds) {
  EXPECT_TRUE(IsSafeRequestId("abc-123"));
  EXPECT_FALSE(IsSafeRequestId(""));
  EXPECT_FALSE(IsSafeRequestId("a b"));
  EXPECT_FALSE(IsSafeRequestId(std::string(129, 'a')));
  EXPECT_TRUE(IsSafeRequestId(std::string(128, 'a')));
}

}  // namespace
}  // namespace modelfn
