#include "pool/face_path.h"

#include <gtest/gtest.h>

#include "faces/azure/invocation.h"
#include "pool/forward_types.h"

namespace modelfn {
namespace {

TEST(FacePathTest, AzureForwardsUnderTheRoutePrefixAndTheFaceMapsItBack) {
  EXPECT_EQ(InstancePath(InstanceFace::kAzure, "/v1/infer"), "/api/infer");
  EXPECT_EQ(InstancePath(InstanceFace::kAzure, "/v1/batch"), "/api/batch");
  EXPECT_EQ(InstancePath(InstanceFace::kAzure, "/v2/models/digits/infer"),
            "/api/v2/models/digits/infer");
  EXPECT_EQ(InstancePath(InstanceFace::kAzure, "/v1/infer/x"), "/api/v1/infer/x");
  // What the azure face makes of it is what the gateway meant.
  for (const char* p : {"/v1/infer", "/v1/batch", "/v1/health", "/v1/models", "/v2/health/ready",
                        "/v2/models/digits/versions/1.0.0/infer", "/v1/infer/x", "/metrics"}) {
    EXPECT_EQ(ForwardedRoute(InstancePath(InstanceFace::kAzure, p), "api"), p) << p;
  }
}

// An invocation queued for the azure face (an az:// upload trigger) reaches it where the Functions
// host posts invocations, and the face takes it as one.
TEST(FacePathTest, AzureInvocationsArePostedToTheFunctionsName) {
  std::string p = InstancePath(InstanceFace::kAzure, std::string(kAzureInvokePrefix) + "Score");
  EXPECT_EQ(p, "/Score");
  EXPECT_TRUE(IsInvocationPath(p, "api"));
  EXPECT_FALSE(IsInvocationPath(InstancePath(InstanceFace::kAzure, "/Score"), "api"));
}

TEST(FacePathTest, OtherFacesGetThePathAsIs) {
  for (auto face : {InstanceFace::kHttp, InstanceFace::kCloudEvents, InstanceFace::kLambda}) {
    EXPECT_EQ(InstancePath(face, "/v1/infer"), "/v1/infer");
    EXPECT_EQ(InstancePath(face, "/v2/models/d/infer"), "/v2/models/d/infer");
  }
}

}  // namespace
}  // namespace modelfn
