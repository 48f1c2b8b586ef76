#include "gateway/openapi.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

Manifest TwoInputs() {
  Manifest m;
  m.name = "add2";
  m.version = "1.0.0";
  TensorSpec a{"a", DType::kFp32, {-1, 3}, {"N", ""}};
  TensorSpec flag{"flag", DType::kBool, {-1}, {"N"}};
  TensorSpec sum{"sum", DType::kInt64, {-1, 3}, {"N", ""}};
  m.schema.inputs = {a, flag};
  m.schema.outputs = {sum};
  return m;
}

TEST(OpenApiTest, SchemasComeFromTheManifest) {
  Manifest m = TwoInputs();
  auto doc = Json::Parse(BuildOpenApi({{"adder", &m}}, "http://127.0.0.1:8080", false, false));
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->Find("openapi")->AsString(), "3.1.0");
  const Json* paths = doc->Find("paths");
  ASSERT_NE(paths->Find("/v1/models/adder/infer"), nullptr);
  ASSERT_NE(paths->Find("/v1/models/adder/batch"), nullptr);
  const Json* inputs = doc->Find("components")
                           ->Find("schemas")
                           ->Find("InferRequest_adder")
                           ->Find("properties")
                           ->Find("inputs");
  EXPECT_EQ(inputs->Find("required")->Dump(), R"(["a","flag"])");
  const Json* a = inputs->Find("properties")->Find("a");
  EXPECT_EQ(a->Find("items")->Find("minItems")->AsInt64(), 3);
  EXPECT_EQ(a->Find("items")->Find("items")->Find("type")->AsString(), "number");
  EXPECT_EQ(inputs->Find("properties")->Find("flag")->Find("items")->Find("type")->AsString(),
            "boolean");
  const Json* out = doc->Find("components")->Find("schemas")->Find("InferResponse_adder");
  EXPECT_EQ(out->Find("properties")
                ->Find("outputs")
                ->Find("properties")
                ->Find("sum")
                ->Find("items")
                ->Find("items")
                ->Find("type")
                ->AsString(),
            "integer");
  EXPECT_EQ(doc->Find("security"), nullptr);  // open gateway
}

TEST(OpenApiTest, SecuritySchemesFollowTheGatewayAuth) {
  Manifest m = TwoInputs();
  auto doc = Json::Parse(BuildOpenApi({{"adder", &m}}, "http://x", true, true));
  ASSERT_TRUE(doc.ok());
  const Json* schemes = doc->Find("components")->Find("securitySchemes");
  EXPECT_EQ(schemes->Find("apiKey")->Find("name")->AsString(), "X-Api-Key");
  EXPECT_EQ(schemes->Find("bearer")->Find("bearerFormat")->AsString(), "JWT");
  EXPECT_EQ(doc->Find("security")->Dump(), R"([{"apiKey":[],"bearer":[]}])");
}

}  // namespace
}  // namespace modelfn
