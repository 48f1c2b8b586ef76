// Cold-start probe for bench/run.py: spawns a server command, then polls it with fresh TCP
// connections (every 200 us) until POST /v1/infer answers 200; prints the milliseconds from just
// before the spawn to the end of that first answer, then SIGTERMs and reaps the server. Written in
// C++ so the probe's own overhead stays in the microseconds for every contender alike.
//
// usage: coldstart_probe PORT BODY_FILE -- COMMAND [ARGS...]
//        coldstart_probe --exit -- COMMAND [ARGS...]   (milliseconds from spawn to a 0 exit: the
//                                                      floor of a process that only loads and runs)
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "first_answer.h"

extern char** environ;

int SpawnToExit(char** cmd) {
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid;
  if (posix_spawn(&pid, cmd[0], nullptr, nullptr, cmd, environ) != 0) {
    perror("posix_spawn");
    return 1;
  }
  int status;
  waitpid(pid, &status, 0);
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "command failed\n");
    return 1;
  }
  printf("%.3f\n", ms);
  return 0;
}

int main(int argc, char** argv) {
  if (argc >= 4 && std::string(argv[1]) == "--exit" && std::string(argv[2]) == "--") {
    return SpawnToExit(argv + 3);
  }
  if (argc < 5 || std::string(argv[3]) != "--") {
    fprintf(stderr, "usage: %s PORT BODY_FILE -- COMMAND [ARGS...]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  std::string request = modelfn::bench::InferRequest(modelfn::bench::ReadFileText(argv[2]));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  auto t0 = std::chrono::steady_clock::now();
  pid_t pid;
  if (posix_spawn(&pid, argv[4], &fa, nullptr, argv + 4, environ) != 0) {
    perror("posix_spawn");
    return 1;
  }
  double ms = -1;
  while (std::chrono::steady_clock::now() - t0 < std::chrono::seconds(60)) {
    if (modelfn::bench::AnswersOk(port, request)) {
      ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      break;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) break;  // the server died
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  kill(pid, SIGTERM);
  int status;
  waitpid(pid, &status, 0);
  if (ms < 0) {
    fprintf(stderr, "no 200 answer\n");
    return 1;
  }
  printf("%.3f\n", ms);
  return 0;
}
