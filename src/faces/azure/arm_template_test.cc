#include "faces/azure/arm_template.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

AzureDeployOptions Digits() {
  AzureDeployOptions o;
  o.app = "digits-fn";
  o.resource_group = "modelfn-rg";
  o.storage_account = "digitsfnstore";
  o.model_uri = "https://mymodels.blob.core.windows.net/models/prod/digits@1.0.0";
  return o;
}

const Json& At(const Json& j, const std::string& path) {
  static const Json kNull;
  const Json* cur = &j;
  size_t start = 0;
  while (start <= path.size()) {
    size_t dot = path.find('.', start);
    std::string key =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (cur->is_array()) {
      size_t i = static_cast<size_t>(std::stoul(key));
      if (i >= cur->AsArray().size()) return kNull;
      cur = &cur->AsArray()[i];
    } else {
      cur = cur->Find(key);
      if (cur == nullptr) return kNull;
    }
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *cur;
}

std::string S(const Json& j) { return j.is_string() ? j.AsString() : ""; }

const Json* Resource(const Json& t, const std::string& type, const std::string& role = "") {
  for (const Json& r : At(t, "resources").AsArray()) {
    if (S(At(r, "type")) != type) continue;
    if (role.empty() || S(At(r, "name")).find(role) != std::string::npos) return &r;
  }
  return nullptr;
}

TEST(ArmTemplateTest, FlexPlanAppSettingsAndScaling) {
  AzureDeployOptions o = Digits();
  o.min_instances = 2;
  o.max_instances = 40;
  auto text = RenderAzureArmTemplate(o);
  ASSERT_TRUE(text.ok()) << text.status().message();
  auto t = Json::Parse(*text);
  ASSERT_TRUE(t.ok());
  const Json* plan = Resource(*t, "Microsoft.Web/serverfarms");
  ASSERT_NE(plan, nullptr);
  EXPECT_EQ(S(At((*plan), "sku.name")), "FC1");
  EXPECT_EQ(S(At((*plan), "sku.tier")), "FlexConsumption");
  const Json* site = Resource(*t, "Microsoft.Web/sites");
  ASSERT_NE(site, nullptr);
  const Json& fc = At((*site), "properties.functionAppConfig");
  EXPECT_EQ(S(At(fc, "runtime.name")), "custom");
  EXPECT_EQ(At(fc, "scaleAndConcurrency.maximumInstanceCount").AsInt64(), 40);
  EXPECT_EQ(At(fc, "scaleAndConcurrency.alwaysReady.0.instanceCount").AsInt64(), 2);
  bool model = false;
  for (const Json& s : At((*site), "properties.siteConfig.appSettings").AsArray()) {
    if (S(At(s, "name")) == "MODELFN_MODEL") model = S(At(s, "value")) == o.model_uri;
  }
  EXPECT_TRUE(model);
}

TEST(ArmTemplateTest, ReaderRoleIsScopedToTheModelContainer) {
  auto text = RenderAzureArmTemplate(Digits());
  ASSERT_TRUE(text.ok()) << text.status().message();
  auto t = Json::Parse(*text);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(S(At((*t), "variables.modelAccount")), "mymodels");
  EXPECT_EQ(S(At((*t), "variables.modelContainer")), "models");
  const Json* reader = Resource(*t, "Microsoft.Authorization/roleAssignments",
                                "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1");
  ASSERT_NE(reader, nullptr);
  EXPECT_NE(S(At((*reader), "scope")).find("/blobServices/default/containers/{1}"),
            std::string::npos);
}

TEST(ArmTemplateTest, NoAlwaysReadyOrReaderRoleWithoutThem) {
  AzureDeployOptions o = Digits();
  o.model_uri.clear();
  auto text = RenderAzureArmTemplate(o);
  ASSERT_TRUE(text.ok()) << text.status().message();
  auto t = Json::Parse(*text);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(Resource(*t, "Microsoft.Authorization/roleAssignments",
                     "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"),
            nullptr);
  EXPECT_EQ(text->find("alwaysReady"), std::string::npos);
}

TEST(ArmTemplateTest, BadOptionsAreInvalidRequests) {
  std::vector<AzureDeployOptions> bad(7, Digits());
  bad[0].model_uri = "s3://b/models/digits";
  bad[1].model_uri = "az://models/digits";  // no account
  bad[2].storage_account = "Bad_Name";
  bad[3].min_instances = 5, bad[3].max_instances = 2;
  bad[4].instance_memory_mb = 1024;
  bad[5].app = "-x";
  bad[6].resource_group.clear();
  for (const AzureDeployOptions& o : bad) {
    auto t = RenderAzureArmTemplate(o);
    ASSERT_FALSE(t.ok());
    EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
    EXPECT_EQ(t.status().reason(), "invalid_request");
  }
  AzureDeployOptions ok = Digits();
  ok.model_uri = "az://models/digits";
  ok.model_account = "mymodels";
  EXPECT_TRUE(RenderAzureArmTemplate(ok).ok());
}

TEST(ArmTemplateTest, AzCommandsDeployTheTemplateAndThePackage) {
  AzureDeployOptions o = Digits();
  o.package_zip = "app.zip";
  auto c = AzCommands(o, "out/azuredeploy.json");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->size(), 3u);
  EXPECT_EQ((*c)[1].rfind("az deployment group create --resource-group 'modelfn-rg'", 0), 0u);
  EXPECT_NE((*c)[1].find("--template-file 'out/azuredeploy.json'"), std::string::npos);
  EXPECT_NE((*c)[2].find("--src 'app.zip'"), std::string::npos);
}

}  // namespace
}  // namespace modelfn
