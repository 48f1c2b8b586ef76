#include "http/problem.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

TEST(ProblemTest, CodesMapToStatuses) {
  EXPECT_EQ(StatusForCode("dtype_mismatch"), 400);
  EXPECT_EQ(StatusForCode("payload_too_large"), 413);
  EXPECT_EQ(StatusForCode("unsupported_media_type"), 415);
  EXPECT_EQ(StatusForCode("model_error"), 500);
  EXPECT_EQ(StatusForCode("timeout"), 504);
  EXPECT_EQ(StatusForCode("no_such_code"), 500);
}

TEST(ProblemTest, FromStatusPrefersReason) {
  Problem p = ProblemFromStatus(Status(StatusCode::kInvalidArgument, "bad", "shape_mismatch"));
  EXPECT_EQ(p.code, "shape_mismatch");
  EXPECT_EQ(p.status, 400);
  EXPECT_EQ(ProblemFromStatus(NotFoundError("x")).code, "not_found");
  EXPECT_EQ(ProblemFromStatus(InternalError("x")).status, 500);
  EXPECT_EQ(ProblemFromStatus(Status(StatusCode::kInvalidArgument, "x", "made_up")).code,
            "invalid_request");
}

TEST(ProblemTest, JsonHasRfc9457Members) {
  auto j = Json::Parse(MakeProblem("missing_input", "input 'x' is missing").ToJson());
  ASSERT_TRUE(j.ok());
  EXPECT_EQ(j->Find("type")->AsString(), "urn:modelfn:problem:missing_input");
  EXPECT_EQ(j->Find("status")->AsInt64(), 400);
  EXPECT_EQ(j->Find("code")->AsString(), "missing_input");
  EXPECT_EQ(j->Find("detail")->AsString(), "input 'x' is missing");
  EXPECT_TRUE(j->Find("title")->is_string());
}

}  // namespace
}  // namespace modelfn
