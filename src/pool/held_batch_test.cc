#include "pool/held_batch.h"

#include <gtest/gtest.h>

#include <cmath>

#include "common/json.h"

namespace modelfn {
namespace {

std::shared_ptr<const ForwardRequest> Infer(std::string body, std::string ct = "application/json") {
  auto r = std::make_shared<ForwardRequest>();
  r->path = "/v1/infer";
  r->content_type = std::move(ct);
  r->body = std::move(body);
  return r;
}

TEST(HeldBatchTest, OnlyJsonObjectsPostedToInferMayTravelMerged) {
  EXPECT_TRUE(HeldMergeable(*Infer(R"({"inputs":[[1,2]]})")));
  EXPECT_TRUE(HeldMergeable(*Infer(R"( {"inputs":[1]} )", "Application/JSON; charset=utf-8")));
  EXPECT_TRUE(HeldMergeable(*Infer(R"({"a":1})", "")));
  EXPECT_TRUE(HeldMergeable(*Infer(R"({"a":1})", "application/vnd.x+json")));
  EXPECT_FALSE(HeldMergeable(*Infer("[1,2]")));                    // not an object
  EXPECT_FALSE(HeldMergeable(*Infer(R"({"a":1)")));                // not JSON
  EXPECT_FALSE(HeldMergeable(*Infer(R"({"a":1,"a":2})")));         // duplicate key
  EXPECT_FALSE(HeldMergeable(*Infer("")));                         // empty
  EXPECT_FALSE(HeldMergeable(*Infer(R"({"a":1})", "image/png")));  // an image body
  EXPECT_FALSE(HeldMergeable(*Infer(R"({"a":1})", "text/plain")));
  auto r = std::make_shared<ForwardRequest>(*Infer(R"({"a":1})"));
  r->query = "x=1";
  EXPECT_FALSE(HeldMergeable(*r));
  r = std::make_shared<ForwardRequest>(*Infer(R"({"a":1})"));
  r->path = "/v1/batch";
  EXPECT_FALSE(HeldMergeable(*r));
  r = std::make_shared<ForwardRequest>(*Infer(R"({"a":1})"));
  r->method = "PUT";
  EXPECT_FALSE(HeldMergeable(*r));
  // Nested so deep that {"items": [...]} would take it past the function's limit of 64.
  auto nested = [](int depth) {
    return R"({"a":)" + std::string(depth - 1, '[') + "1" + std::string(depth - 1, ']') + "}";
  };
  EXPECT_TRUE(HeldMergeable(*Infer(nested(62))));
  EXPECT_FALSE(HeldMergeable(*Infer(nested(63))));
  std::string big = R"({"a":")" + std::string(kHeldBatchMaxBytes, 'x') + R"("})";
  EXPECT_FALSE(HeldMergeable(*Infer(big)));
}

TEST(HeldBatchTest, MergedSendCarriesTheBodiesInOrderWithTheFirstRequestsIdentity) {
  auto a = std::make_shared<ForwardRequest>(*Infer(R"({"inputs":[1]})"));
  a->request_id = "first";
  a->source_ip = "10.0.0.1";
  a->arrived_ns = 42;
  a->headers = {{"content-type", "application/json"}, {"content-length", "15"}, {"x-k", "v"}};
  ForwardRequest m = MergeHeld({a, Infer(R"({"inputs":[2]})"), Infer(R"({"inputs":[3]})")});
  EXPECT_EQ(m.method, "POST");
  EXPECT_EQ(m.path, "/v1/batch");
  EXPECT_EQ(m.content_type, "application/json");
  EXPECT_EQ(m.body, R"({"items":[{"inputs":[1]},{"inputs":[2]},{"inputs":[3]}]})");
  EXPECT_EQ(m.request_id, "first");
  EXPECT_EQ(m.source_ip, "10.0.0.1");
  EXPECT_EQ(m.arrived_ns, 42);
  std::vector<std::pair<std::string, std::string>> want = {{"x-k", "v"},
                                                           {"content-type", "application/json"}};
  EXPECT_EQ(m.headers, want);
  EXPECT_TRUE(Json::Parse(m.body).ok());
}

TEST(HeldBatchTest, EachMemberGetsTheAnswerInferWouldGive) {
  ForwardReply merged;
  merged.status = 200;
  merged.instance = "fn-1-1";
  merged.version = "1";
  merged.headers = {{"X-Batch-Items", "3"},
                    {"X-Batch-Failed", "1"},
                    {"X-Request-Id", "first"},
                    {"Content-Type", "application/json"},
                    {"X-Custom", "kept"}};
  merged.body =
      R"({"model":"digits","version":"1.0.0","results":[)"
      R"({"outputs":{"probs":[[0.25,0.5]],"label":"seven"}},)"
      R"({"error":{"type":"urn:modelfn:problem:shape_mismatch","title":"Bad Request","status":400,)"
      R"("code":"shape_mismatch","detail":"input 'x' has 3 columns, expected 2"}},)"
      R"({"outputs":{"probs":[[1e-07,-0.0]]}}]})";
  auto answers = SplitHeld(merged, 3);
  ASSERT_TRUE(answers.ok()) << answers.status().ToString();
  ASSERT_EQ(answers->size(), 3u);
  const ForwardReply& a = (*answers)[0].reply;
  EXPECT_EQ(a.status, 200);
  EXPECT_EQ(a.content_type, "application/json");
  EXPECT_EQ(
      a.body,
      R"({"model":"digits","version":"1.0.0","outputs":{"probs":[[0.25,0.5]],"label":"seven"}})");
  EXPECT_EQ(a.instance, "fn-1-1");
  std::vector<std::pair<std::string, std::string>> want = {{"X-Custom", "kept"}};
  EXPECT_EQ(a.headers, want);
  EXPECT_EQ(a.held_batch, 3);
  const ForwardReply& b = (*answers)[1].reply;
  EXPECT_EQ(b.status, 400);
  EXPECT_EQ(b.content_type, "application/problem+json");
  auto problem = Json::Parse(b.body);
  ASSERT_TRUE(problem.ok());
  EXPECT_EQ(problem->Find("detail")->AsString(), "input 'x' has 3 columns, expected 2");
  EXPECT_FALSE((*answers)[1].resend);
  // Numbers come back as the same values (shortest round trip), signs included.
  auto c = Json::Parse((*answers)[2].reply.body);
  ASSERT_TRUE(c.ok());
  const Json& row = c->Find("outputs")->Find("probs")->AsArray()[0];
  EXPECT_EQ(row.AsArray()[0].AsDouble(), 1e-07);
  EXPECT_TRUE(std::signbit(row.AsArray()[1].AsDouble()));
}

TEST(HeldBatchTest, AnItemOverTheSharedElementBudgetIsSentAgainAlone) {
  ForwardReply merged;
  merged.body = R"({"model":"m","version":"1","results":[{"outputs":{}},)"
                R"({"error":{"status":413,"code":"too_many_elements"}}]})";
  auto answers = SplitHeld(merged, 2);
  ASSERT_TRUE(answers.ok());
  EXPECT_FALSE((*answers)[0].resend);
  EXPECT_TRUE((*answers)[1].resend);
}

TEST(HeldBatchTest, AnErrorWithoutAUsableStatusIs500) {
  ForwardReply merged;
  merged.body = R"({"model":"m","version":"1","results":[{"error":{"status":"x"}},)"
                R"({"error":{"status":200}}]})";
  auto answers = SplitHeld(merged, 2);
  ASSERT_TRUE(answers.ok());
  EXPECT_EQ((*answers)[0].reply.status, 500);
  EXPECT_EQ((*answers)[1].reply.status, 500);
}

TEST(HeldBatchTest, AnswersThatAreNotABatchOfTheRightSizeAreRefused) {
  auto refused = [](int status, const std::string& body, size_t n) {
    ForwardReply r;
    r.status = status;
    r.body = body;
    auto s = SplitHeld(r, n);
    return !s.ok() && s.status().code() == StatusCode::kFailedPrecondition;
  };
  const std::string two =
      R"({"model":"m","version":"1","results":[{"outputs":{}},{"outputs":{}}]})";
  EXPECT_FALSE(refused(200, two, 2));
  EXPECT_TRUE(refused(200, two, 3));
  EXPECT_TRUE(refused(500, two, 2));
  EXPECT_TRUE(refused(413, R"({"code":"payload_too_large"})", 2));
  EXPECT_TRUE(refused(200, "not json", 2));
  EXPECT_TRUE(refused(200, R"({"results":[{},{}]})", 2));
  EXPECT_TRUE(refused(200, R"({"model":"m","version":"1","results":[1,2]})", 2));
  EXPECT_TRUE(refused(200, R"({"model":"m","version":"1","results":{}})", 2));
}

}  // namespace
}  // namespace modelfn
