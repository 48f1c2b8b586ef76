// The modelfn subcommands, each `int CmdX(argc, argv)` with argv past the command name,
// returning the process's exit code (0 success, 1 failure, 2 usage error). `up`, `status` and
// `keys` are in up_cmd.h.
#pragma once

namespace modelfn {

// Model files (model_cmds.cc).
int CmdManifest(int argc, char** argv);
int CmdShow(int argc, char** argv);
int CmdVerify(int argc, char** argv);
int CmdPolicy(int argc, char** argv);

// A version made faster: graph optimisation saved, int8 quantisation, accuracy gate
// (optimize_cmd.cc).
int CmdOptimize(int argc, char** argv);

// Cost and capacity before deploying: a profile at several CPU shares, then every cloud simulated
// for a traffic (plan_cmd.cc).
int CmdPlan(int argc, char** argv);

// Events and one-off runs (event_cmds.cc).
int CmdGenerateEvent(int argc, char** argv);
int CmdInvoke(int argc, char** argv);

// Versions in a store (store_cmds.cc).
int CmdPush(int argc, char** argv);
int CmdPromote(int argc, char** argv);
int CmdRollback(int argc, char** argv);
int CmdList(int argc, char** argv);

// Packages and deployment (package_cmds.cc).
int CmdPackage(int argc, char** argv);
int CmdDeploy(int argc, char** argv);
// `package --target azure-functions` (azure_package_cmd.cc).
int CmdPackageAzureFunctions(int argc, char** argv);
// aws_stack_cmd.cc: the runtime as a Lambda layer, and one SAM template for a whole modelfn.yaml.
int CmdPackageLambdaLayer(int argc, char** argv);
int CmdDeployAwsStack(int argc, char** argv);

}  // namespace modelfn
