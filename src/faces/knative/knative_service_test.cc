#include "faces/knative/knative_service.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace modelfn {
namespace {

KnativeOptions Digits() {
  KnativeOptions o;
  o.name = "digits";
  o.image = "registry.example/modelfn/digits:1";
  o.model_uri = "gs://models/digits@1.0.0";
  return o;
}

TEST(KnativeServiceTest, ServiceCarriesScalingResourcesProbeAndModel) {
  KnativeOptions o = Digits();
  o.min_scale = 0;
  o.max_scale = 5;
  o.concurrency = 4;
  o.target_utilization = 60;
  auto text = RenderKnativeService(o);
  ASSERT_TRUE(text.ok()) << text.status().message();
  YAML::Node s = YAML::Load(*text);
  EXPECT_EQ(s["kind"].as<std::string>(), "Service");
  YAML::Node t = s["spec"]["template"];
  YAML::Node ann = t["metadata"]["annotations"];
  EXPECT_EQ(ann["autoscaling.knative.dev/min-scale"].as<std::string>(), "0");
  EXPECT_EQ(ann["autoscaling.knative.dev/max-scale"].as<std::string>(), "5");
  EXPECT_EQ(ann["autoscaling.knative.dev/target-utilization-percentage"].as<std::string>(), "60");
  EXPECT_EQ(t["spec"]["containerConcurrency"].as<int>(), 4);
  YAML::Node c = t["spec"]["containers"][0];
  EXPECT_EQ(c["readinessProbe"]["httpGet"]["path"].as<std::string>(), "/v2/health/ready");
  EXPECT_EQ(c["resources"]["limits"]["memory"].as<std::string>(), "1Gi");
  EXPECT_EQ(c["env"][0]["name"].as<std::string>(), "MODELFN_MODEL");
  EXPECT_EQ(c["env"][0]["value"].as<std::string>(), "gs://models/digits@1.0.0");
  EXPECT_EQ(RenderKnativeTrigger(o).value(), "");
}

TEST(KnativeServiceTest, TriggerDeliversUploadsOfTheBucketToTheService) {
  KnativeOptions o = Digits();
  o.trigger = true;
  o.trigger_bucket = "uploads";
  auto text = RenderKnativeTrigger(o);
  ASSERT_TRUE(text.ok());
  YAML::Node t = YAML::Load(*text);
  EXPECT_EQ(t["apiVersion"].as<std::string>(), "eventing.knative.dev/v1");
  EXPECT_EQ(t["spec"]["filter"]["attributes"]["type"].as<std::string>(),
            "google.cloud.storage.object.v1.finalized");
  EXPECT_EQ(t["spec"]["filter"]["attributes"]["source"].as<std::string>(),
            "//storage.googleapis.com/projects/_/buckets/uploads");
  EXPECT_EQ(t["spec"]["subscriber"]["ref"]["name"].as<std::string>(), "digits");
}

TEST(KnativeServiceTest, RefusesWhatKnativeWouldRefuse) {
  KnativeOptions o = Digits();
  o.name = "Digits_1";
  EXPECT_EQ(RenderKnativeService(o).status().code(), StatusCode::kInvalidArgument);
  o = Digits();
  o.min_scale = 3;
  o.max_scale = 2;
  EXPECT_FALSE(RenderKnativeService(o).ok());
  o = Digits();
  o.memory = "1 GB";
  EXPECT_FALSE(RenderKnativeService(o).ok());
  o = Digits();
  o.trigger = true;
  o.output_prefix = "incoming/out/";
  EXPECT_FALSE(RenderKnativeTrigger(o).ok());
}

}  // namespace
}  // namespace modelfn
