#include "gateway/route_stage.h"

#include <gtest/gtest.h>

#include "gateway/local_route_stage.h"
#include "gateway/stage_testing.h"

namespace modelfn::gateway {
namespace {

using testing::CodeOf;
using testing::FakeBackend;
using testing::HeldContinuation;
using testing::MakeExchange;

class RouteStageTest : public ::testing::Test {
 protected:
  RouteStageTest()
      : table_(std::make_shared<RouteTable>(std::vector<LocalRoute>{
            {"/v1/health", "application/json", [] { return "{}"; }, false, nullptr}})),
        shared_(std::make_shared<std::vector<FunctionRoute>>()),
        functions_(*shared_) {
    functions_.push_back({"digits", "mnist", false, false, {{&backend_, 1}}, 1});
  }
  void AddSecondFunction() {
    functions_.push_back({"text", "bert", false, false, {{&backend_, 1}}, 1});
  }
  Verdict Run(ExchangePtr& ex) {
    RouteStage stage(table_, shared_);
    return stage.OnRequest(ex, next_);
  }
  FakeBackend backend_{"1"};
  std::shared_ptr<const RouteTable> table_;
  std::shared_ptr<std::vector<FunctionRoute>> shared_;
  std::vector<FunctionRoute>& functions_;
  HeldContinuation next_;
};

TEST_F(RouteStageTest, NamedInferRoute) {
  auto ex = MakeExchange("POST", "/v1/models/digits/infer");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_EQ(ex->function, &functions_[0]);
  EXPECT_EQ(ex->path, "/v1/infer");
  EXPECT_EQ(ex->route, "/v1/infer");
}

TEST_F(RouteStageTest, SingleFunctionTakesPlainInfer) {
  auto ex = MakeExchange("POST", "/v1/batch");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_EQ(ex->function, &functions_[0]);
  EXPECT_EQ(ex->path, "/v1/batch");
}

TEST_F(RouteStageTest, SeveralFunctionsChooseByQueryThenBody) {
  AddSecondFunction();
  auto by_query = MakeExchange("POST", "/v1/infer?x=1&model=text");
  EXPECT_EQ(Run(by_query), Verdict::kNext);
  EXPECT_EQ(by_query->function->name, "text");
  auto by_body = MakeExchange("POST", "/v1/infer", {}, R"({"model":"text","inputs":[]})");
  EXPECT_EQ(Run(by_body), Verdict::kNext);
  EXPECT_EQ(by_body->function->name, "text");
  auto none = MakeExchange("POST", "/v1/infer", {}, R"({"inputs":[]})");
  EXPECT_EQ(Run(none), Verdict::kAnswered);
  EXPECT_EQ(none->response.status, 400);
  EXPECT_EQ(CodeOf(none->response), "invalid_request");
}

TEST_F(RouteStageTest, UnknownFunctionIs404NamingTheFunctions) {
  auto ex = MakeExchange("POST", "/v1/models/nope/infer");
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 404);
  EXPECT_NE(ex->response.body.find("digits"), std::string::npos);
  EXPECT_EQ(ex->function, nullptr);  // not counted as a function's request
}

TEST_F(RouteStageTest, V2PathIsRewrittenToTheModelName) {
  auto ex = MakeExchange("POST", "/v2/models/digits/versions/7/infer");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_EQ(ex->path, "/v2/models/mnist/versions/7/infer");
  EXPECT_EQ(ex->version, "7");
  EXPECT_EQ(ex->route, "/v2/models/{m}/versions/{v}/infer");
  EXPECT_FALSE(ex->v2_meta);
  auto meta = MakeExchange("GET", "/v2/models/digits/ready");
  EXPECT_EQ(Run(meta), Verdict::kNext);
  EXPECT_TRUE(meta->v2_meta);
  auto bad = MakeExchange("GET", "/v2/models/digits/explain");
  EXPECT_EQ(Run(bad), Verdict::kAnswered);
  EXPECT_EQ(bad->response.status, 404);
  EXPECT_NE(bad->response.body.find("\"code\":\"not_found\""), std::string::npos);
}

TEST_F(RouteStageTest, WrongMethodIs405) {
  auto get = MakeExchange("GET", "/v1/infer");
  EXPECT_EQ(Run(get), Verdict::kAnswered);
  EXPECT_EQ(get->response.status, 405);
  EXPECT_EQ(get->function, &functions_[0]);  // counted for the function
  auto post_meta = MakeExchange("POST", "/v2/models/digits");
  EXPECT_EQ(Run(post_meta), Verdict::kAnswered);
  EXPECT_EQ(post_meta->response.status, 405);
}

TEST_F(RouteStageTest, LocalRouteIsChosenAndServedAfter) {
  auto ex = MakeExchange("GET", "/v1/health");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  ASSERT_NE(ex->local, nullptr);
  EXPECT_EQ(ex->function, nullptr);
  LocalRouteStage serve;
  EXPECT_EQ(serve.OnRequest(ex, next_), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 200);
  EXPECT_EQ(ex->response.body, "{}");
  auto post = MakeExchange("POST", "/v1/health");
  Run(post);
  EXPECT_EQ(serve.OnRequest(post, next_), Verdict::kAnswered);
  EXPECT_EQ(post->response.status, 405);
  auto fn = MakeExchange("POST", "/v1/infer");
  Run(fn);
  EXPECT_EQ(serve.OnRequest(fn, next_), Verdict::kNext);
}

TEST(RouteTableTest, OnlyOpenLocalRoutesNeedNoAuth) {
  RouteTable t({{"/v1/health", "application/json", [] { return "{}"; }, false, nullptr},
                {"/metrics", "text/plain", [] { return ""; }, true, nullptr}});
  EXPECT_FALSE(t.NeedsAuth("/v1/health"));
  EXPECT_TRUE(t.NeedsAuth("/metrics"));
  EXPECT_TRUE(t.NeedsAuth("/v1/infer"));
}

TEST_F(RouteStageTest, AsyncSubmissionsNameTheFunctionAndStatusReadsTheId) {
  auto ex = MakeExchange("POST", "/v1/async/digits");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_TRUE(ex->async_submit);
  EXPECT_EQ(ex->function, &functions_[0]);
  EXPECT_EQ(ex->path, "/v1/infer");
  EXPECT_EQ(ex->route, "/v1/async/{function}");
  ex = MakeExchange("POST", "/v1/async/digits/batch");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_EQ(ex->path, "/v1/batch");
  ex = MakeExchange("GET", "/v1/async/0123abcd");
  EXPECT_EQ(Run(ex), Verdict::kNext);
  EXPECT_EQ(ex->async_id, "0123abcd");
  EXPECT_EQ(ex->function, nullptr);
  EXPECT_FALSE(ex->async_submit);
  ex = MakeExchange("POST", "/v1/async/nope");
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 404);
  ex = MakeExchange("POST", "/v1/async/digits/ready");
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 404);
  ex = MakeExchange("GET", "/v1/async/a/b");
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 404);
  for (const char* m : {"PUT", "DELETE", "PATCH"}) {
    ex = MakeExchange(m, "/v1/async/0123abcd");
    EXPECT_EQ(Run(ex), Verdict::kAnswered) << m;
    EXPECT_EQ(ex->response.status, 405) << m;
  }
}

TEST_F(RouteStageTest, TheLambdaInvokeApiNamesLambdaModeFunctionsByNameOrArn) {
  functions_[0].lambda_mode = true;
  AddSecondFunction();  // http mode
  for (std::string name : {"digits", "digits:$LATEST", "digits%3A%24LATEST",
                           "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Adigits"}) {
    auto ex = MakeExchange("POST", "/2015-03-31/functions/" + name + "/invocations");
    ASSERT_EQ(Run(ex), Verdict::kNext) << name;
    EXPECT_EQ(ex->function, &functions_[0]) << name;
    EXPECT_TRUE(ex->lambda_invoke);
    EXPECT_EQ(ex->invocation_type, "RequestResponse");
    EXPECT_FALSE(ex->async_submit);
  }
  auto ex = MakeExchange("POST", "/2015-03-31/functions/digits/invocations",
                         {{"x-amz-invocation-type", "Event"}});
  ASSERT_EQ(Run(ex), Verdict::kNext);
  EXPECT_TRUE(ex->async_submit);
  EXPECT_EQ(ex->path, kLambdaInvokePath);
  for (std::string bad : {"digits:7", "nope", "digits%zz", "digits%0A"}) {
    ex = MakeExchange("POST", "/2015-03-31/functions/" + bad + "/invocations");
    EXPECT_EQ(Run(ex), Verdict::kAnswered) << bad;
    EXPECT_EQ(ex->response.status, 404) << bad;
  }
  ex = MakeExchange("POST", "/2015-03-31/functions/text/invocations");
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 400);
  ex = MakeExchange("POST", "/2015-03-31/functions/digits/invocations",
                    {{"x-amz-invocation-type", "Sometime"}});
  EXPECT_EQ(Run(ex), Verdict::kAnswered);
  EXPECT_EQ(ex->response.status, 400);
}

}  // namespace
}  // namespace modelfn::gateway
