#include "package/elf.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include "package/lambda_zip.h"

namespace modelfn {
namespace {

std::string Binary(const char* name) { return std::string(MODELFN_BINARY_DIR) + "/" + name; }

TEST(ElfTest, ReadsMachineInterpreterNeedsAndRunpath) {
  auto info = ReadElf(Binary("modelfn-fn"));
  ASSERT_TRUE(info.ok()) << info.status().ToString();
#if defined(__x86_64__)
  EXPECT_EQ(info->machine, kElfMachineX86_64);
  EXPECT_EQ(LambdaArchOf(info->machine), "x86_64");
#endif
  EXPECT_NE(info->interp.find("ld-linux"), std::string::npos) << info->interp;
  EXPECT_NE(std::find(info->needed.begin(), info->needed.end(), "libonnxruntime.so.1"),
            info->needed.end());
  EXPECT_FALSE(info->runpath.empty());
  auto boot = ReadElf(Binary("modelfn-bootstrap"));
  ASSERT_TRUE(boot.ok());
  EXPECT_EQ(boot->interp, "");  // static
  EXPECT_TRUE(boot->needed.empty());
}

TEST(ElfTest, RefusesWhatIsNotElf64) {
  // A name no one else creates: a fixed one like /nonexistent can exist on a shared machine.
  std::string missing = testing::TempDir() + "/elf_test_missing_" + std::to_string(getpid());
  EXPECT_EQ(ReadElf(missing).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(ReadElf(std::string(MODELFN_SOURCE_DIR) + "/README.md").status().code(),
            StatusCode::kInvalidArgument);
}

// The reader resolves the same libraries as the loader itself (ldd) for a native binary.
TEST(ElfTest, ResolvesWhatLddResolves) {
  std::string bin = Binary("modelfn-fn");
  auto ldd = SharedLibraries(bin);
  ASSERT_TRUE(ldd.ok()) << ldd.status().ToString();
#if defined(__x86_64__)
  auto ours = ResolveElfLibraries(bin, LibraryDirsFor("x86_64"));
#else
  auto ours = ResolveElfLibraries(bin, LibraryDirsFor("arm64"));
#endif
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  std::set<std::pair<std::string, std::string>> a(ldd->begin(), ldd->end());
  std::set<std::pair<std::string, std::string>> b(ours->begin(), ours->end());
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace modelfn
