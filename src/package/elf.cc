#include "package/elf.h"

#include <unistd.h>

#include <cstring>
#include <deque>
#include <set>

#include "common/files.h"

namespace modelfn {
namespace {

template <typename T>
bool Load(const std::string& data, uint64_t off, T* out) {
  if (off > data.size() || data.size() - off < sizeof(T)) return false;
  memcpy(out, data.data() + off, sizeof(T));
  return true;
}

std::string RealPath(const std::string& p) {
  char buf[4096];
  return realpath(p.c_str(), buf) ? std::string(buf) : "";
}

std::string Dirname(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? "." : (s == 0 ? "/" : p.substr(0, s));
}

}  // namespace

StatusOr<ElfInfo> ReadElf(const std::string& path) {
  ASSIGN_OR_RETURN(std::string d, ReadFile(path));
  auto bad = [&](const std::string& why) { return InvalidArgumentError(path + ": " + why); };
  if (d.size() < 64 || memcmp(d.data(),
                              "\x7f"
                              "ELF",
                              4) != 0)
    return bad("not an ELF file");
  if (d[4] != 2 || d[5] != 1) return bad("not a 64-bit little-endian ELF file");
  ElfInfo info;
  uint64_t phoff = 0;
  uint16_t phentsize = 0, phnum = 0;
  Load(d, 18, &info.machine);
  Load(d, 32, &phoff);
  Load(d, 54, &phentsize);
  Load(d, 56, &phnum);
  struct Seg {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
  };
  std::vector<Seg> segs;
  for (uint16_t i = 0; i < phnum; ++i) {
    uint64_t p = phoff + uint64_t{i} * phentsize;
    Seg s{};
    if (!Load(d, p, &s.type) || !Load(d, p + 8, &s.offset) || !Load(d, p + 16, &s.vaddr) ||
        !Load(d, p + 32, &s.filesz)) {
      return bad("truncated program headers");
    }
    segs.push_back(s);
  }
  // Maps a virtual address to a file offset through the PT_LOAD segments.
  auto file_offset = [&](uint64_t vaddr, uint64_t* off) {
    for (const Seg& s : segs) {
      if (s.type == 1 && vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) {
        *off = s.offset + (vaddr - s.vaddr);
        return true;
      }
    }
    return false;
  };
  for (const Seg& s : segs) {
    if (s.type == 3) {  // PT_INTERP
      if (s.offset + s.filesz > d.size()) return bad("truncated interpreter");
      info.interp = std::string(d.c_str() + s.offset, strnlen(d.c_str() + s.offset, s.filesz));
    }
  }
  for (const Seg& s : segs) {
    if (s.type != 2) continue;  // PT_DYNAMIC
    std::vector<uint64_t> needed, runpath, rpath;
    uint64_t strtab = 0;
    for (uint64_t p = s.offset; p + 16 <= s.offset + s.filesz; p += 16) {
      int64_t tag;
      uint64_t val;
      if (!Load(d, p, &tag) || !Load(d, p + 8, &val)) return bad("truncated dynamic section");
      if (tag == 0) break;
      if (tag == 1) needed.push_back(val);
      if (tag == 5) strtab = val;
      if (tag == 29) runpath.push_back(val);
      if (tag == 15) rpath.push_back(val);
    }
    uint64_t str_off = 0;
    if (!file_offset(strtab, &str_off)) return bad("dynamic string table outside the file");
    auto str = [&](uint64_t i) -> std::string {
      if (str_off + i >= d.size()) return "";
      return std::string(d.c_str() + str_off + i);
    };
    for (uint64_t n : needed) info.needed.push_back(str(n));
    for (uint64_t r : runpath.empty() ? rpath : runpath) {
      for (auto& dir : SplitPathList(str(r))) info.runpath.push_back(std::move(dir));
    }
  }
  return info;
}

std::string LambdaArchOf(uint16_t machine) {
  if (machine == kElfMachineX86_64) return "x86_64";
  if (machine == kElfMachineAarch64) return "arm64";
  return "";
}

std::vector<std::string> LibraryDirsFor(const std::string& arch) {
  std::string triple = arch == "arm64" ? "aarch64-linux-gnu" : "x86_64-linux-gnu";
  return {"/usr/" + triple + "/lib",
          "/lib/" + triple,
          "/usr/lib/" + triple,
          "/lib64",
          "/lib",
          "/usr/lib"};
}

StatusOr<std::vector<std::pair<std::string, std::string>>> ResolveElfLibraries(
    const std::string& binary, const std::vector<std::string>& search_dirs) {
  ASSIGN_OR_RETURN(ElfInfo top, ReadElf(binary));
  std::vector<std::pair<std::string, std::string>> out;
  std::set<std::string> seen;
  std::deque<std::pair<std::string, ElfInfo>> queue;  // (path, info) whose needs to resolve
  queue.emplace_back(binary, top);
  auto find = [&](const std::string& soname, const std::string& from,
                  const ElfInfo& info) -> std::string {
    std::vector<std::string> dirs;
    for (std::string r : info.runpath) {
      size_t o = r.find("$ORIGIN");
      if (o != std::string::npos) r.replace(o, 7, Dirname(RealPath(from)));
      dirs.push_back(r);
    }
    dirs.insert(dirs.end(), search_dirs.begin(), search_dirs.end());
    for (const auto& dir : dirs) {
      std::string cand = dir + "/" + soname;
      if (access(cand.c_str(), R_OK) != 0) continue;
      auto e = ReadElf(cand);
      if (e.ok() && e->machine == top.machine) return RealPath(cand);
    }
    return "";
  };
  if (!top.interp.empty()) {
    std::string name = top.interp.substr(top.interp.rfind('/') + 1);
    std::string path = find(name, binary, ElfInfo{});
    if (path.empty()) return NotFoundError("the loader " + name + " of " + binary + " is missing");
    out.emplace_back(name, path);
    seen.insert(name);
  }
  while (!queue.empty()) {
    auto [from, info] = std::move(queue.front());
    queue.pop_front();
    for (const std::string& soname : info.needed) {
      if (!seen.insert(soname).second) continue;
      std::string path = find(soname, from, info);
      if (path.empty()) {
        return NotFoundError("a library of " + from + " is missing: " + soname + " (searched " +
                             std::to_string(search_dirs.size()) + " folders for " +
                             LambdaArchOf(top.machine) + ")");
      }
      out.emplace_back(soname, path);
      ASSIGN_OR_RETURN(ElfInfo next, ReadElf(path));
      queue.emplace_back(path, std::move(next));
    }
  }
  return out;
}

}  // namespace modelfn
