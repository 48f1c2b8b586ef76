// The `bootstrap` of a modelfn Lambda package: a small static program (no shell) that starts
// bin/modelfn-fn through the dynamic loader shipped in lib/, with only lib/ on the library path,
// so the function runs the same on provided.al2023 whatever glibc the build machine had.
#include <limits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#ifndef MODELFN_LOADER_NAME
#if defined(__aarch64__)
#define MODELFN_LOADER_NAME "ld-linux-aarch64.so.1"
#else
#define MODELFN_LOADER_NAME "ld-linux-x86-64.so.2"
#endif
#endif

int main(int argc, char** argv) {
  std::string self;
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    self.assign(buf, static_cast<size_t>(n));
  } else if (argv[0][0] == '/') {
    self = argv[0];
  } else if (getcwd(buf, sizeof buf)) {
    self = std::string(buf) + "/" + argv[0];
  }
  std::string root = self.substr(0, self.rfind('/'));
  std::string loader = root + "/lib/" MODELFN_LOADER_NAME;
  std::string libs = root + "/lib";
  std::string program = root + "/bin/modelfn-fn";
  std::vector<char*> args = {const_cast<char*>(loader.c_str()), const_cast<char*>("--library-path"),
                             const_cast<char*>(libs.c_str()), const_cast<char*>(program.c_str())};
  for (int i = 1; i < argc; ++i) args.push_back(argv[i]);
  args.push_back(nullptr);
  execv(loader.c_str(), args.data());
  fprintf(stderr, "bootstrap: cannot exec %s: %s\n", loader.c_str(), strerror(errno));
  return 127;
}
