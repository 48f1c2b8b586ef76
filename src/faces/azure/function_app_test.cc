#include "faces/azure/function_app.h"

#include <gtest/gtest.h>

#include "common/json.h"

namespace modelfn {
namespace {

const Json* Binding(const Json& function_json, std::string_view type) {
  for (const Json& b : function_json.Find("bindings")->AsArray()) {
    if (b.Find("type")->AsString() == type) return &b;
  }
  return nullptr;
}

TEST(AzureFunctionApp, HostJsonRunsTheHandlerWithForwardedHttpAndTheBundle) {
  AzureAppOptions o;
  auto files = AzureAppFiles(o);
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].first, "host.json");
  auto host = Json::Parse(files[0].second);
  ASSERT_TRUE(host.ok());
  EXPECT_EQ(host->Find("version")->AsString(), "2.0");
  EXPECT_EQ(host->Find("extensionBundle")->Find("id")->AsString(),
            "Microsoft.Azure.Functions.ExtensionBundle");
  const Json* handler = host->Find("customHandler");
  ASSERT_NE(handler, nullptr);
  EXPECT_TRUE(handler->Find("enableForwardingHttpRequest")->AsBool());
  EXPECT_EQ(handler->Find("description")->Find("defaultExecutablePath")->AsString(), "bootstrap");
  EXPECT_EQ(handler->Find("description")->Find("arguments")->Dump(), R"(["--model","model"])");
}

TEST(AzureFunctionApp, OneFunctionPerTriggerNamedAfterTheOptions) {
  AzureAppOptions o;
  o.container = "uploads";
  o.input_prefix = "in/";
  o.queue = "digits";
  auto files = AzureAppFiles(o);
  auto http = Json::Parse(files[1].second);
  auto blob = Json::Parse(files[2].second);
  auto queue = Json::Parse(files[3].second);
  ASSERT_TRUE(http.ok() && blob.ok() && queue.ok());
  EXPECT_EQ(files[1].first, "infer/function.json");
  EXPECT_EQ(Binding(*http, "httpTrigger")->Find("route")->AsString(), "{*path}");
  ASSERT_NE(Binding(*http, "http"), nullptr);
  EXPECT_EQ(files[2].first, "BlobInfer/function.json");
  EXPECT_EQ(Binding(*blob, "blobTrigger")->Find("path")->AsString(), "uploads/in/{name}");
  EXPECT_EQ(files[3].first, "QueueInfer/function.json");
  EXPECT_EQ(Binding(*queue, "queueTrigger")->Find("queueName")->AsString(), "digits");
  const Json* out = Binding(*queue, "queue");
  ASSERT_NE(out, nullptr);
  EXPECT_EQ(out->Find("name")->AsString(), "$return");
  EXPECT_EQ(out->Find("queueName")->AsString(), "digits-results");
}

TEST(AzureFunctionApp, NamesAzureRefusesAreRefusedHere) {
  for (const char* bad : {"UPPER", "ab", "a--b", "-ab", "ab-", "a_b"}) {
    AzureAppOptions o;
    o.container = bad;
    auto r = BuildAzureFunctionApp(o);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().reason(), "invalid_request") << bad;
  }
  AzureAppOptions o;
  o.input_prefix = "in";
  EXPECT_FALSE(BuildAzureFunctionApp(o).ok());
  o.input_prefix = "in/";
  o.queue = std::string(60, 'q');
  EXPECT_FALSE(BuildAzureFunctionApp(o).ok());
}

}  // namespace
}  // namespace modelfn
