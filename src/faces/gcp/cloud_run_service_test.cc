#include "faces/gcp/cloud_run_service.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

namespace modelfn {
namespace {

CloudRunOptions Digits() {
  CloudRunOptions o;
  o.service = "digits";
  o.project = "my-project";
  o.region = "europe-west1";
  o.image = "europe-west1-docker.pkg.dev/my-project/modelfn/digits:1";
  o.model_uri = "gs://my-models/models/digits@1.0.0";
  return o;
}

TEST(CloudRunServiceTest, ServiceCarriesScalingResourcesAccountAndModel) {
  CloudRunOptions o = Digits();
  o.min_instances = 1;
  o.max_instances = 4;
  o.concurrency = 16;
  o.cpu = "2";
  o.memory_mb = 2048;
  auto text = RenderCloudRunService(o);
  ASSERT_TRUE(text.ok()) << text.status().message();
  YAML::Node s = YAML::Load(*text);
  EXPECT_EQ(s["apiVersion"].as<std::string>(), "serving.knative.dev/v1");
  YAML::Node ann = s["spec"]["template"]["metadata"]["annotations"];
  EXPECT_EQ(ann["autoscaling.knative.dev/minScale"].as<std::string>(), "1");
  EXPECT_EQ(ann["autoscaling.knative.dev/maxScale"].as<std::string>(), "4");
  EXPECT_EQ(ann["run.googleapis.com/startup-cpu-boost"].as<std::string>(), "true");
  EXPECT_EQ(ann["run.googleapis.com/execution-environment"].as<std::string>(), "gen2");
  EXPECT_FALSE(ann["run.googleapis.com/cpu-throttling"]);
  YAML::Node spec = s["spec"]["template"]["spec"];
  EXPECT_EQ(spec["containerConcurrency"].as<int>(), 16);
  EXPECT_EQ(spec["serviceAccountName"].as<std::string>(),
            "digits-fn@my-project.iam.gserviceaccount.com");
  YAML::Node c = spec["containers"][0];
  EXPECT_EQ(c["resources"]["limits"]["cpu"].as<std::string>(), "2");
  EXPECT_EQ(c["resources"]["limits"]["memory"].as<std::string>(), "2048Mi");
  EXPECT_EQ(c["env"][0]["value"].as<std::string>(), "gs://my-models/models/digits@1.0.0");
}

TEST(CloudRunServiceTest, BelowOneCpuIsFirstGenerationWithRequestBasedCpu) {
  CloudRunOptions o = Digits();
  o.cpu = "0.5";
  o.concurrency = 1;
  o.memory_mb = 512;
  auto text = RenderCloudRunService(o);
  ASSERT_TRUE(text.ok()) << text.status().message();
  YAML::Node ann = YAML::Load(*text)["spec"]["template"]["metadata"]["annotations"];
  EXPECT_EQ(ann["run.googleapis.com/execution-environment"].as<std::string>(), "gen1");
  EXPECT_EQ(ann["run.googleapis.com/cpu-throttling"].as<std::string>(), "true");
}

TEST(CloudRunServiceTest, ModelReadIsConditionedOnTheModelPrefix) {
  CloudRunOptions o = Digits();
  o.trigger_bucket = "uploads";
  auto cmds = GcloudCommands(o, "out/service.yaml");
  ASSERT_TRUE(cmds.ok());
  bool model_grant = false, replace = false, trigger = false;
  for (const std::string& c : *cmds) {
    if (c.find("gs://my-models") != std::string::npos) {
      model_grant =
          c.find("roles/storage.objectViewer") != std::string::npos &&
          c.find("projects/_/buckets/my-models/objects/models/digits/") != std::string::npos;
    }
    replace |= c.rfind("gcloud run services replace 'out/service.yaml'", 0) == 0;
    trigger |= c.find("eventarc triggers create") != std::string::npos &&
               c.find("bucket=uploads") != std::string::npos;
  }
  EXPECT_TRUE(model_grant);
  EXPECT_TRUE(replace);
  EXPECT_TRUE(trigger);
  YAML::Node t = YAML::Load(RenderEventarcTrigger(o).value());
  EXPECT_EQ(t["eventFilters"][0]["value"].as<std::string>(),
            "google.cloud.storage.object.v1.finalized");
  EXPECT_EQ(t["destination"]["cloudRun"]["service"].as<std::string>(), "digits");
}

TEST(CloudRunServiceTest, RefusesWhatCloudRunWouldRefuse) {
  CloudRunOptions o = Digits();
  o.model_uri = "s3://b/models/digits";
  EXPECT_EQ(RenderCloudRunService(o).status().code(), StatusCode::kInvalidArgument);
  o = Digits();
  o.cpu = "3";
  EXPECT_FALSE(RenderCloudRunService(o).ok());
  o = Digits();
  o.cpu = "0.5";  // below 1 vCPU: concurrency must be 1
  EXPECT_FALSE(RenderCloudRunService(o).ok());
  o = Digits();
  o.min_instances = 5;
  o.max_instances = 2;
  EXPECT_FALSE(RenderCloudRunService(o).ok());
  o = Digits();
  o.service = "Digits";
  EXPECT_FALSE(RenderCloudRunService(o).ok());
}

}  // namespace
}  // namespace modelfn
