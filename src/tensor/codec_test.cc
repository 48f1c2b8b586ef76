#include "tensor/codec.h"

#include <gtest/gtest.h>

namespace modelfn {
namespace {

Json P(const char* s) { return std::move(Json::Parse(s).value()); }

Tensor Decode(const char* json, DType t, Status* st, int64_t cap = 1000) {
  Tensor out;
  out.dtype = t;
  *st = DecodeNestedJson(P(json), cap, &out);
  return out;
}

TEST(CodecTest, NestedFloatsInferShape) {
  Status st;
  Tensor t = Decode("[[1, 2.5, -3], [4, 5, 6e-1]]", DType::kFp32, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(t.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_FLOAT_EQ(t.As<float>()[1], 2.5f);
  EXPECT_FLOAT_EQ(t.As<float>()[5], 0.6f);
}

TEST(CodecTest, ScalarAndEmpty) {
  Status st;
  Tensor t = Decode("7", DType::kInt64, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(t.shape.empty());
  EXPECT_EQ(t.As<int64_t>()[0], 7);
  t = Decode("[[]]", DType::kFp32, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(t.shape, (std::vector<int64_t>{1, 0}));
}

TEST(CodecTest, RaggedIsShapeMismatch) {
  Status st;
  Decode("[[1,2],[3]]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "shape_mismatch");
  Decode("[[1,2],3]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "shape_mismatch");
  Decode("[1,[2]]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "shape_mismatch");
}

TEST(CodecTest, WrongValuesAreDtypeMismatch) {
  Status st;
  Decode("[1, \"a\"]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  EXPECT_NE(st.message().find("element 1"), std::string::npos) << st.message();
  Decode("[1.5]", DType::kInt32, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[300]", DType::kUint8, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[-1]", DType::kUint64, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[1e39]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[70000]", DType::kFp16, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[null]", DType::kFp64, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[2]", DType::kBool, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  Decode("[1]", DType::kBytes, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
}

// FP32 rows take a loop of their own; an element it cannot take still gets the error, naming
// the element, that the general path gives, wherever it sits in the row and in the tensor.
TEST(CodecTest, Fp32RowsNameTheFirstBadElement) {
  Status st;
  Tensor t = Decode("[[1, -0.5, 3e38], [-3e38, 0, 7]]", DType::kFp32, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(t.As<float>()[2], 3e38f);
  EXPECT_EQ(t.As<float>()[3], -3e38f);
  EXPECT_EQ(t.As<float>()[5], 7.0f);
  Decode("[[1, 2, 3], [4, 5, 1e39]]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "dtype_mismatch");
  EXPECT_NE(st.message().find("element 5: value out of range"), std::string::npos) << st.message();
  Decode("[[1, 2, 3], [4, true, 6]]", DType::kFp32, &st);
  EXPECT_NE(st.message().find("element 4: expected a number, got boolean"), std::string::npos)
      << st.message();
  Decode("[[1, 2], [3, [4]]]", DType::kFp32, &st);
  EXPECT_EQ(st.reason(), "shape_mismatch");
  EXPECT_NE(st.message().find("element 3"), std::string::npos) << st.message();
}

TEST(CodecTest, IntegersAcceptExactFloats) {
  Status st;
  Tensor t = Decode("[3.0, -2, 9223372036854775807]", DType::kInt64, &st);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(t.As<int64_t>()[0], 3);
  EXPECT_EQ(t.As<int64_t>()[2], INT64_MAX);
  t = Decode("[18446744073709551615]", DType::kUint64, &st);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(t.As<uint64_t>()[0], UINT64_MAX);
}

TEST(CodecTest, ElementCapIsEnforcedBeforeAllocation) {
  Status st;
  Decode("[1,2,3,4,5]", DType::kFp32, &st, 4);
  EXPECT_EQ(st.reason(), "too_many_elements");
  Tensor t;
  t.dtype = DType::kFp32;
  t.shape = {1000000000, 1000000000};
  EXPECT_EQ(DecodeJsonData(P("[1]"), 1 << 20, &t).reason(), "too_many_elements");
  EXPECT_EQ(DecodeBinaryData("", 1 << 20, &t).reason(), "too_many_elements");
  // No element, but a million nested arrays to write back as JSON: counted like elements.
  t.shape = {1000, 1000, 0, 5};
  EXPECT_EQ(DecodeBinaryData("", 1 << 19, &t).reason(), "too_many_elements");
  EXPECT_TRUE(DecodeBinaryData("", 1 << 21, &t).ok());
  t.shape = {0, 1000000000};  // an empty outer array holds nothing
  EXPECT_TRUE(DecodeBinaryData("", 16, &t).ok());
}

TEST(CodecTest, V2DataFlatOrNestedMustMatchShape) {
  Tensor t;
  t.dtype = DType::kInt32;
  t.shape = {2, 2};
  ASSERT_TRUE(DecodeJsonData(P("[1,2,3,4]"), 100, &t).ok());
  EXPECT_EQ(t.As<int32_t>()[3], 4);
  ASSERT_TRUE(DecodeJsonData(P("[[1,2],[3,4]]"), 100, &t).ok());
  EXPECT_EQ(t.As<int32_t>()[2], 3);
  EXPECT_EQ(DecodeJsonData(P("[1,2,3]"), 100, &t).reason(), "shape_mismatch");
  EXPECT_EQ(DecodeJsonData(P("[1,2,3,4,5]"), 100, &t).reason(), "shape_mismatch");
}

TEST(CodecTest, BinaryRoundTripAllKinds) {
  Tensor t;
  t.dtype = DType::kBytes;
  t.shape = {3};
  t.strings = {"a", "", "hello"};
  std::string buf;
  EXPECT_EQ(AppendBinaryData(t, &buf), 4u * 3 + 6);
  Tensor back;
  back.dtype = DType::kBytes;
  back.shape = {3};
  ASSERT_TRUE(DecodeBinaryData(buf, 100, &back).ok());
  EXPECT_EQ(back.strings, t.strings);
  EXPECT_EQ(DecodeBinaryData(std::string_view(buf).substr(0, buf.size() - 1), 100, &back).reason(),
            "shape_mismatch");
  EXPECT_EQ(DecodeBinaryData(buf + "x", 100, &back).reason(), "shape_mismatch");

  Tensor f;
  f.dtype = DType::kFp16;
  f.shape = {2};
  EXPECT_EQ(DecodeBinaryData("abc", 100, &f).reason(), "shape_mismatch");
  ASSERT_TRUE(DecodeBinaryData(std::string_view("\x00\x3c\x00\xc0", 4), 100, &f).ok());
  std::string out;
  JsonWriter w(&out);
  WriteFlatJson(f, &w);
  EXPECT_EQ(out, "[1,-2]");
}

// BYTES are bytes: NUL and control characters survive JSON (escaped) and binary; only bytes
// that are not UTF-8 are lost in JSON, as U+FFFD (docs/api.md), and kept by binary.
TEST(CodecTest, BytesKeepNulThroughJsonAndBinary) {
  Tensor t;
  t.dtype = DType::kBytes;
  t.shape = {3};
  t.strings = {std::string("a\0b", 3), std::string("\0\x1b\n", 3), "\xc3\xa9"};
  std::string json;
  JsonWriter w(&json);
  WriteFlatJson(t, &w);
  EXPECT_EQ(json, R"(["a\u0000b","\u0000\u001b\n","é"])");
  Tensor back;
  back.dtype = DType::kBytes;
  back.shape = {3};
  ASSERT_TRUE(DecodeJsonData(P(json.c_str()), 100, &back).ok());
  EXPECT_EQ(back.strings, t.strings);

  t.strings = {std::string("\xff\0", 2), "", "ok"};
  std::string bin;
  AppendBinaryData(t, &bin);
  ASSERT_TRUE(DecodeBinaryData(bin, 100, &back).ok());
  EXPECT_EQ(back.strings, t.strings);
  json.clear();
  JsonWriter w2(&json);
  WriteFlatJson(t, &w2);
  EXPECT_EQ(json, R"(["\ufffd\u0000","","ok"])");
}

TEST(CodecTest, WritesNestedByShape) {
  Status st;
  Tensor t = Decode("[[true,false],[false,true]]", DType::kBool, &st);
  ASSERT_TRUE(st.ok());
  std::string out;
  JsonWriter w(&out);
  WriteNestedJson(t, &w);
  EXPECT_EQ(out, "[[true,false],[false,true]]");
  t = Decode("[[1,2,3]]", DType::kUint16, &st);
  out.clear();
  JsonWriter w2(&out);
  WriteNestedJson(t, &w2);
  EXPECT_EQ(out, "[[1,2,3]]");
}

}  // namespace
}  // namespace modelfn
