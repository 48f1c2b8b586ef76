#include "package/zip_writer.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "common/files.h"

namespace modelfn {
namespace {

// unzip(1) is not guaranteed; Python's zipfile is the independent reader here.
TEST(ZipWriterTest, PythonReadsWhatWeWrite) {
  std::string dir = testing::TempDir();
  std::string zip = dir + "/t.zip";
  ZipWriter w(zip);
  ASSERT_TRUE(w.status().ok());
  std::string big(100000, 'a');
  ASSERT_TRUE(w.Add("bootstrap", "#!exec", 0755).ok());
  ASSERT_TRUE(w.Add("lib/libx.so", big, 0644).ok());
  ASSERT_TRUE(w.Add("empty", "", 0644).ok());
  auto size = w.Finish();
  ASSERT_TRUE(size.ok());
  EXPECT_LT(*size, 2000u);  // deflated
  EXPECT_EQ(w.uncompressed_bytes(), big.size() + 6);
  std::string cmd =
      "python3 -c \"import zipfile,sys; z=zipfile.ZipFile('" + zip +
      "'); assert z.testzip() is None; i=z.getinfo('bootstrap'); "
      "assert (i.external_attr>>16)&0o777==0o755; assert z.read('lib/libx.so')==b'a'*100000; "
      "assert z.read('empty')==b''; print('ok')\" > " +
      dir + "/zipcheck.txt";
  ASSERT_EQ(system(cmd.c_str()), 0);
  EXPECT_EQ(ReadFile(dir + "/zipcheck.txt").value(), "ok\n");
}

}  // namespace
}  // namespace modelfn
