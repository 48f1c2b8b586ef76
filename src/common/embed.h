// Files assembled into the binary at build time (.incbin), for data a command ships with: the
// examples `modelfn init` writes, the cloud data `modelfn plan` reads. MODELFN_EMBED_FILE(name,
// "/abs/path") defines `name_begin` and `name_end`, the bytes' bounds (no terminator). The file
// that uses it lists the embedded files in its OBJECT_DEPENDS so edits rebuild it.
#pragma once

#define MODELFN_EMBED_FILE(name, file)                                                          \
  __asm__(".section .rodata\n.global " #name "_begin\n.balign 16\n" #name                       \
          "_begin:\n.incbin \"" file "\"\n.global " #name "_end\n" #name "_end:\n.previous\n"); \
  extern "C" const char name##_begin[];                                                         \
  extern "C" const char name##_end[];
