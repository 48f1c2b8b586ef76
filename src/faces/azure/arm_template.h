// `modelfn deploy --target azure`: an Azure Resource Manager (ARM) JSON template that runs one
// model function on Azure Functions, and the `az` commands that apply it.
//
// The template (deploymentTemplate 2019-04-01 schema) holds:
//   - a user-assigned managed identity (Microsoft.ManagedIdentity/userAssignedIdentities);
//   - the app's own storage account (no shared keys, no public blobs) with a container the
//     Flex Consumption plan deploys the app package to;
//   - a Flex Consumption plan (Microsoft.Web/serverfarms, sku FC1 / FlexConsumption, Linux);
//   - the function app (Microsoft.Web/sites, kind functionapp,linux) with functionAppConfig:
//     runtime `custom` (the custom handler), the package container read with the identity,
//     maximumInstanceCount / instanceMemoryMB, and `alwaysReady` instances for the http group
//     when min_instances > 0; app settings: the identity-based AzureWebJobsStorage, and
//     MODELFN_MODEL = the model's store URI (when the model is in a store);
//   - role assignments (Microsoft.Authorization/roleAssignments) for the identity: Storage Blob
//     Data Owner and Storage Queue Data Contributor on the app's own account (the host's storage,
//     the package, the queue trigger), and Storage Blob Data Reader on the model's container
//     only (scope = .../blobServices/default/containers/CONTAINER of the model's account, which
//     must be in the deployment's resource group).
// Every API version is the one of the Azure SDK model packages that tests check it with.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct AzureDeployOptions {
  std::string app;             // function app name: 2-60 letters, digits, '-'
  std::string resource_group;  // for the az commands
  std::string location = "westeurope";
  std::string storage_account;  // app's own account: 3-24 lowercase letters and digits
  // The model: az://CONTAINER/PREFIX/NAME[@V] (model_account names the account) or
  // https://ACCOUNT.blob.core.windows.net/CONTAINER/PREFIX/NAME[@V]; empty: in the package.
  std::string model_uri;
  std::string model_account;
  int min_instances = 0;  // always-ready instances of the http group (0..max_instances)
  int max_instances = 100;
  int instance_memory_mb = 2048;  // 512, 2048 or 4096
  std::string package_zip;        // `modelfn package --target azure-functions` output
};

// The model's account and container ("" both when the model is in the package).
struct AzureModelContainer {
  std::string account;
  std::string container;
};

// InvalidArgument (reason "invalid_request") naming the flag, for options Azure or this
// layout would refuse: names, a model URI that is not an Azure Blob store, an az:// URI without
// an account, instance counts and memory outside the plan's values.
Status ValidateAzureDeployOptions(const AzureDeployOptions& o);
StatusOr<AzureModelContainer> AzureModelContainerOf(const AzureDeployOptions& o);

// The template, pretty-printed JSON.
StatusOr<std::string> RenderAzureArmTemplate(const AzureDeployOptions& o);

// The az commands, in order: create the resource group, deploy the template (read from
// `template_path`), zip-deploy the package. Each a shell command line.
StatusOr<std::vector<std::string>> AzCommands(const AzureDeployOptions& o,
                                              const std::string& template_path);

}  // namespace modelfn
