// `modelfn up`, `modelfn status` and `modelfn keys`: the local platform's commands.
#pragma once

namespace modelfn {

int CmdUp(int argc, char** argv);
int CmdStatus(int argc, char** argv);
int CmdKeys(int argc, char** argv);
int CmdLogs(int argc, char** argv);  // logs_cmd.cc
int CmdInit(int argc, char** argv);  // init_cmd.cc

}  // namespace modelfn
