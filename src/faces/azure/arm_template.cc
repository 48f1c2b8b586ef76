#include "faces/azure/arm_template.h"

#include "common/json.h"
#include "store/store_uri.h"

namespace modelfn {
namespace {

constexpr const char* kSchema =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";
constexpr const char* kWebApi = "2025-05-01";
constexpr const char* kStorageApi = "2026-09-01";
constexpr const char* kIdentityApi = "2024-11-30";
constexpr const char* kRoleApi = "2022-04-01";
// Built-in role definition ids (Azure built-in roles, Storage section).
constexpr const char* kBlobDataReader = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1";
constexpr const char* kBlobDataOwner = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b";
constexpr const char* kQueueDataContributor = "974c5e8b-45b9-4653-ba55-5f855dd0fb88";
constexpr const char* kPackageContainer = "app-package";

Status Bad(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, why, "invalid_request");
}

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

bool IsAppName(const std::string& s) {
  if (s.size() < 2 || s.size() > 60 || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!(IsLowerAlnum(c) || (c >= 'A' && c <= 'Z') || c == '-')) return false;
  }
  return true;
}

bool IsStorageAccountName(const std::string& s) {
  if (s.size() < 3 || s.size() > 24) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c)) return false;
  }
  return true;
}

// Container names: 3-63 lowercase letters, digits and single hyphens, starting and ending with
// a letter or digit.
bool IsContainerName(const std::string& s) {
  if (s.size() < 3 || s.size() > 63 || s.front() == '-' || s.back() == '-') return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '-' ? s[i - 1] == '-' : !IsLowerAlnum(s[i])) return false;
  }
  return true;
}

std::string Sh(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// ARM template expression fragments.
std::string IdentityId() {
  return "resourceId('Microsoft.ManagedIdentity/userAssignedIdentities', variables('identity'))";
}
std::string StorageId() {
  return "resourceId('Microsoft.Storage/storageAccounts', variables('storageAccount'))";
}
std::string PrincipalId() {
  return "[reference(" + IdentityId() + ", '" + kIdentityApi + "').principalId]";
}

void Role(JsonWriter& w, const std::string& scope_id_expr, const std::string& scope_expr,
          const char* role, const std::vector<std::string>& depends) {
  w.BeginObject();
  w.Key("type").String("Microsoft.Authorization/roleAssignments");
  w.Key("apiVersion").String(kRoleApi);
  w.Key("scope").String("[" + scope_expr + "]");
  w.Key("name").String("[guid(" + scope_id_expr + ", " + IdentityId() + ", '" + role + "')]");
  w.Key("properties").BeginObject();
  w.Key("roleDefinitionId")
      .String(std::string("[subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '") +
              role + "')]");
  w.Key("principalId").String(PrincipalId());
  w.Key("principalType").String("ServicePrincipal");
  w.EndObject();
  w.Key("dependsOn").BeginArray();
  for (const std::string& d : depends) w.String("[" + d + "]");
  w.EndArray();
  w.EndObject();
}

void Setting(JsonWriter& w, const std::string& name, const std::string& value) {
  w.BeginObject().Key("name").String(name).Key("value").String(value).EndObject();
}

}  // namespace

StatusOr<AzureModelContainer> AzureModelContainerOf(const AzureDeployOptions& o) {
  AzureModelContainer m;
  if (o.model_uri.empty()) {
    if (!o.model_account.empty()) return Bad("--model-account needs a model in an Azure store");
    return m;
  }
  auto src = ParseModelSource(o.model_uri);
  if (!src.ok()) return Bad("--model: " + src.status().message());
  if (src->store.kind != StoreUri::Kind::kAzure) {
    return Bad(
        "--model must be a model folder or an Azure Blob store URI (az:// or "
        "https://ACCOUNT.blob.core.windows.net/...), not " +
        o.model_uri);
  }
  m.container = src->store.bucket;
  m.account = src->store.account.empty() ? o.model_account : src->store.account;
  if (!src->store.account.empty() && !o.model_account.empty() &&
      o.model_account != src->store.account) {
    return Bad("--model-account " + o.model_account + " differs from the account in --model");
  }
  if (m.account.empty()) return Bad("--model-account is required with an az:// model URI");
  if (!IsStorageAccountName(m.account)) {
    return Bad("--model-account must be 3-24 lowercase letters and digits: " + m.account);
  }
  if (!IsContainerName(m.container)) return Bad("bad container name in --model: " + m.container);
  return m;
}

Status ValidateAzureDeployOptions(const AzureDeployOptions& o) {
  if (!IsAppName(o.app)) return Bad("--name must be 2-60 letters, digits and '-': " + o.app);
  if (o.resource_group.empty()) return Bad("--resource-group is required");
  if (o.location.empty()) return Bad("--location must not be empty");
  if (!IsStorageAccountName(o.storage_account)) {
    return Bad("--storage-account must be 3-24 lowercase letters and digits: " + o.storage_account);
  }
  if (o.max_instances < 1 || o.max_instances > 1000) {
    return Bad("--max-instances must be 1..1000 (Flex Consumption)");
  }
  if (o.min_instances < 0 || o.min_instances > o.max_instances) {
    return Bad("--min-instances must be 0..--max-instances");
  }
  if (o.instance_memory_mb != 512 && o.instance_memory_mb != 2048 && o.instance_memory_mb != 4096) {
    return Bad("--memory must be 512, 2048 or 4096 (Flex Consumption instance sizes)");
  }
  return AzureModelContainerOf(o).status();
}

StatusOr<std::string> RenderAzureArmTemplate(const AzureDeployOptions& o) {
  RETURN_IF_ERROR(ValidateAzureDeployOptions(o));
  ASSIGN_OR_RETURN(AzureModelContainer model, AzureModelContainerOf(o));
  std::string t;
  JsonWriter w(&t);
  w.BeginObject();
  w.Key("$schema").String(kSchema);
  w.Key("contentVersion").String("1.0.0.0");
  w.Key("parameters").BeginObject();
  w.Key("location").BeginObject().Key("type").String("string");
  w.Key("defaultValue").String(o.location).EndObject();
  w.EndObject();
  w.Key("variables").BeginObject();
  w.Key("app").String(o.app);
  w.Key("plan").String(o.app + "-plan");
  w.Key("identity").String(o.app + "-id");
  w.Key("storageAccount").String(o.storage_account);
  w.Key("packageContainer").String(kPackageContainer);
  if (!model.container.empty()) {
    w.Key("modelAccount").String(model.account);
    w.Key("modelContainer").String(model.container);
  }
  w.EndObject();
  w.Key("resources").BeginArray();

  w.BeginObject();
  w.Key("type").String("Microsoft.ManagedIdentity/userAssignedIdentities");
  w.Key("apiVersion").String(kIdentityApi);
  w.Key("name").String("[variables('identity')]");
  w.Key("location").String("[parameters('location')]");
  w.EndObject();

  w.BeginObject();
  w.Key("type").String("Microsoft.Storage/storageAccounts");
  w.Key("apiVersion").String(kStorageApi);
  w.Key("name").String("[variables('storageAccount')]");
  w.Key("location").String("[parameters('location')]");
  w.Key("kind").String("StorageV2");
  w.Key("sku").BeginObject().Key("name").String("Standard_LRS").EndObject();
  w.Key("properties").BeginObject();
  w.Key("allowBlobPublicAccess").Bool(false);
  w.Key("allowSharedKeyAccess").Bool(false);
  w.Key("minimumTlsVersion").String("TLS1_2");
  w.Key("supportsHttpsTrafficOnly").Bool(true);
  w.EndObject();
  w.EndObject();

  w.BeginObject();
  w.Key("type").String("Microsoft.Storage/storageAccounts/blobServices/containers");
  w.Key("apiVersion").String(kStorageApi);
  w.Key("name").String(
      "[format('{0}/default/{1}', variables('storageAccount'), variables('packageContainer'))]");
  w.Key("properties").BeginObject().Key("publicAccess").String("None").EndObject();
  w.Key("dependsOn").BeginArray().String("[" + StorageId() + "]").EndArray();
  w.EndObject();

  w.BeginObject();
  w.Key("type").String("Microsoft.Web/serverfarms");
  w.Key("apiVersion").String(kWebApi);
  w.Key("name").String("[variables('plan')]");
  w.Key("location").String("[parameters('location')]");
  w.Key("kind").String("functionapp");
  w.Key("sku").BeginObject().Key("name").String("FC1").Key("tier").String("FlexConsumption");
  w.EndObject();
  w.Key("properties").BeginObject().Key("reserved").Bool(true).EndObject();
  w.EndObject();

  w.BeginObject();
  w.Key("type").String("Microsoft.Web/sites");
  w.Key("apiVersion").String(kWebApi);
  w.Key("name").String("[variables('app')]");
  w.Key("location").String("[parameters('location')]");
  w.Key("kind").String("functionapp,linux");
  w.Key("identity").BeginObject().Key("type").String("UserAssigned");
  w.Key("userAssignedIdentities").BeginObject().Key("[" + IdentityId() + "]").BeginObject();
  w.EndObject().EndObject().EndObject();
  w.Key("properties").BeginObject();
  w.Key("serverFarmId").String("[resourceId('Microsoft.Web/serverfarms', variables('plan'))]");
  w.Key("httpsOnly").Bool(true);
  w.Key("siteConfig").BeginObject().Key("appSettings").BeginArray();
  Setting(w, "AzureWebJobsStorage__accountName", "[variables('storageAccount')]");
  Setting(w, "AzureWebJobsStorage__credential", "managedidentity");
  Setting(w, "AzureWebJobsStorage__clientId",
          "[reference(" + IdentityId() + ", '" + kIdentityApi + "').clientId]");
  Setting(w, "AZURE_CLIENT_ID",
          "[reference(" + IdentityId() + ", '" + kIdentityApi + "').clientId]");
  if (!o.model_uri.empty()) Setting(w, "MODELFN_MODEL", o.model_uri);
  if (!model.account.empty()) Setting(w, "AZURE_STORAGE_ACCOUNT", model.account);
  w.EndArray().EndObject();
  w.Key("functionAppConfig").BeginObject();
  w.Key("deployment").BeginObject().Key("storage").BeginObject();
  w.Key("type").String("blobContainer");
  w.Key("value").String("[concat(reference(" + StorageId() + ", '" + kStorageApi +
                        "').primaryEndpoints.blob, variables('packageContainer'))]");
  w.Key("authentication").BeginObject().Key("type").String("UserAssignedIdentity");
  w.Key("userAssignedIdentityResourceId").String("[" + IdentityId() + "]").EndObject();
  w.EndObject().EndObject();
  w.Key("scaleAndConcurrency").BeginObject();
  w.Key("maximumInstanceCount").Int(o.max_instances);
  w.Key("instanceMemoryMB").Int(o.instance_memory_mb);
  if (o.min_instances > 0) {
    w.Key("alwaysReady").BeginArray().BeginObject().Key("name").String("http");
    w.Key("instanceCount").Int(o.min_instances).EndObject().EndArray();
  }
  w.EndObject();
  w.Key("runtime").BeginObject().Key("name").String("custom").Key("version").String("1.0");
  w.EndObject();
  w.EndObject();  // functionAppConfig
  w.EndObject();  // properties
  w.Key("dependsOn").BeginArray();
  w.String("[resourceId('Microsoft.Web/serverfarms', variables('plan'))]");
  w.String("[" + IdentityId() + "]");
  w.String(
      "[resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', "
      "variables('storageAccount'), 'default', variables('packageContainer'))]");
  w.String("[extensionResourceId(" + StorageId() +
           ", 'Microsoft.Authorization/roleAssignments', guid(" + StorageId() + ", " +
           IdentityId() + ", '" + kBlobDataOwner + "'))]");
  w.EndArray();
  w.EndObject();

  const std::string account_scope =
      "format('Microsoft.Storage/storageAccounts/{0}', variables('storageAccount'))";
  Role(w, StorageId(), account_scope, kBlobDataOwner, {StorageId(), IdentityId()});
  Role(w, StorageId(), account_scope, kQueueDataContributor, {StorageId(), IdentityId()});
  if (!model.container.empty()) {
    // The model's container only: the role's scope is the container, not the account.
    Role(w,
         "resourceId('Microsoft.Storage/storageAccounts/blobServices/containers', "
         "variables('modelAccount'), 'default', variables('modelContainer'))",
         "format('Microsoft.Storage/storageAccounts/{0}/blobServices/default/containers/{1}', "
         "variables('modelAccount'), variables('modelContainer'))",
         kBlobDataReader, {IdentityId()});
  }
  w.EndArray();
  w.Key("outputs").BeginObject().Key("principalId").BeginObject();
  w.Key("type").String("string").Key("value").String(PrincipalId()).EndObject().EndObject();
  w.EndObject();
  return t + "\n";
}

StatusOr<std::vector<std::string>> AzCommands(const AzureDeployOptions& o,
                                              const std::string& template_path) {
  RETURN_IF_ERROR(ValidateAzureDeployOptions(o));
  const std::string g = " --resource-group " + Sh(o.resource_group);
  std::vector<std::string> c;
  c.push_back("az group create --name " + Sh(o.resource_group) + " --location " + Sh(o.location));
  c.push_back("az deployment group create" + g + " --name " + Sh("modelfn-" + o.app) +
              " --template-file " + Sh(template_path) + " --parameters location=" + Sh(o.location));
  if (!o.package_zip.empty()) {
    c.push_back("az functionapp deployment source config-zip" + g + " --name " + Sh(o.app) +
                " --src " + Sh(o.package_zip));
  }
  return c;
}

}  // namespace modelfn
