/* For bench/tokenizer/run.sh: can a process without libpython (as modelfn-fn is) load LIBRARY? */
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char** argv) {
  void* h = argc > 1 ? dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL) : NULL;
  printf("%s\n", h ? "loaded" : dlerror());
  return h == NULL;
}
