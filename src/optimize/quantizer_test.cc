#include "optimize/quantizer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>

namespace modelfn {
namespace {

TEST(QuantizerTest, NpyHeaderIsAlignedAndDescribesTheTensor) {
  Tensor t{"x", DType::kFp32, {2, 3}, std::vector<uint8_t>(24, 0), {}};
  float one = 1.0f;
  std::memcpy(t.data.data(), &one, 4);
  auto npy = EncodeNpy(t);
  ASSERT_TRUE(npy.ok());
  ASSERT_GE(npy->size(), 10u);
  EXPECT_EQ(npy->substr(0, 6), "\x93NUMPY");
  size_t header_len = static_cast<uint8_t>((*npy)[8]) | (static_cast<uint8_t>((*npy)[9]) << 8);
  EXPECT_EQ((10 + header_len) % 64, 0u);
  std::string header = npy->substr(10, header_len);
  EXPECT_NE(header.find("'descr': '<f4'"), std::string::npos) << header;
  EXPECT_NE(header.find("'shape': (2, 3)"), std::string::npos) << header;
  EXPECT_EQ(header.back(), '\n');
  EXPECT_EQ(npy->size(), 10 + header_len + 24);
  Tensor v{"v", DType::kInt64, {4}, std::vector<uint8_t>(32, 0), {}};
  auto vec = EncodeNpy(v);
  ASSERT_TRUE(vec.ok());
  EXPECT_NE(vec->find("'shape': (4,)"), std::string::npos);  // a 1-tuple keeps its comma
  Tensor s{"s", DType::kBytes, {1}, {}, {"a"}};
  EXPECT_FALSE(EncodeNpy(s).ok());
}

TEST(QuantizerTest, AMissingPythonSaysWhatToInstall) {
  char dir[] = "/tmp/quantizer-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  QuantizeOptions o;
  o.python = "/nonexistent/python3";
  Status s = Quantize("/nonexistent/model.onnx", std::string(dir) + "/out.onnx", dir, o);
  EXPECT_EQ(s.reason(), "quantizer_unavailable");
  EXPECT_NE(s.message().find("pip install onnxruntime onnx numpy"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("MODELFN_PYTHON"), std::string::npos);
  o.mode = "static";
  EXPECT_EQ(Quantize("/nonexistent/model.onnx", std::string(dir) + "/out.onnx", dir, o).reason(),
            "usage");
  (void)system((std::string("rm -rf ") + dir).c_str());
}

}  // namespace
}  // namespace modelfn
