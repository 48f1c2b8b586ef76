#include "faces/row_objects.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>

#include "common/files.h"

namespace modelfn {
namespace {

class RowObjectsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char t[] = "/tmp/row-objects-XXXXXX";
    ASSERT_NE(mkdtemp(t), nullptr);
    dir_ = t;
  }
  void TearDown() override { (void)system(("rm -rf " + dir_).c_str()); }

  // Every row of `data` read as `format`, chunk by chunk.
  std::vector<Row> ReadAll(RowFormat format, const std::string& data, size_t max_row = 1 << 20,
                           size_t chunk = 2) {
    std::string path = dir_ + "/in";
    EXPECT_TRUE(WriteFileAtomic(path, data).ok());
    auto reader = OpenRowReader(format, path, max_row);
    EXPECT_TRUE(reader.ok()) << reader.status().ToString();
    std::vector<Row> rows;
    if (!reader.ok()) return rows;
    while (true) {
      size_t before = rows.size();
      auto more = (*reader)->Next(chunk, 1 << 20, &rows);
      EXPECT_TRUE(more.ok()) << more.status().ToString();
      if (!more.ok() || !*more) break;
      EXPECT_LE(rows.size() - before, chunk);
    }
    return rows;
  }
  std::string dir_;
};

TEST_F(RowObjectsTest, FormatsByExtension) {
  EXPECT_EQ(RowFormatOf("a/b.jsonl"), RowFormat::kJsonl);
  EXPECT_EQ(RowFormatOf("b.csv"), RowFormat::kCsv);
  EXPECT_EQ(RowFormatOf("b.npy"), RowFormat::kNpy);
  EXPECT_EQ(RowFormatOf("b.json"), std::nullopt);
  EXPECT_EQ(RowFormatOf("b.csv.gz"), std::nullopt);
  EXPECT_STREQ(ResultExtension(RowFormat::kNpy), ".npz");
}

TEST_F(RowObjectsTest, JsonLinesAreRowsAndBadLinesFailAlone) {
  std::string long_line = "[" + std::string(100, '1') + "]";
  auto rows = ReadAll(RowFormat::kJsonl,
                      "[1,2]\n\n  \r\n[3,\n{\"inputs\":{\"a\":[[1]]}}\n" + long_line + "\r\n\"x\"",
                      /*max_row=*/64);
  ASSERT_EQ(rows.size(), 5u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[1,2]]})");
  EXPECT_EQ(rows[0].index, 0);
  EXPECT_EQ(rows[1].error.reason(), "invalid_json");
  EXPECT_NE(rows[1].error.message().find("line 4"), std::string::npos) << rows[1].error.message();
  EXPECT_EQ(rows[2].body, R"({"inputs":{"a":[[1]]}})");  // a request of its own, as it is
  EXPECT_EQ(rows[3].error.reason(), "row_too_large");
  EXPECT_EQ(rows[4].body, R"({"inputs":["x"]})");  // the last line needs no newline
  EXPECT_EQ(rows[4].index, 4);
}

TEST_F(RowObjectsTest, CsvHeaderNumbersTextAndBadRecords) {
  auto rows = ReadAll(RowFormat::kCsv,
                      "a,b,c\n1,2.5,-3e2\n\"4\", 5 ,6\n1,2\n1,x,3\nnan,1,2\n0x1,2,3\n\n7,8,9");
  ASSERT_EQ(rows.size(), 7u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[1,2.5,-300]]})");
  EXPECT_EQ(rows[1].body, R"({"inputs":[[4,5,6]]})");  // quotes and spaces around fields
  EXPECT_NE(rows[2].error.message().find("2 fields"), std::string::npos);
  EXPECT_NE(rows[3].error.message().find("field 2"), std::string::npos);
  EXPECT_FALSE(rows[4].error.ok());  // not finite
  EXPECT_FALSE(rows[5].error.ok());  // not a decimal number
  EXPECT_EQ(rows[6].body, R"({"inputs":[[7,8,9]]})");
  EXPECT_EQ(rows[6].index, 6);

  // No header: the first record is a row. One text column: each record is a string.
  rows = ReadAll(RowFormat::kCsv, "1,2\n3,4\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[1,2]]})");
  rows = ReadAll(RowFormat::kCsv, "text\n\"great film, loved it\"\nawful \"\"acting\"\"\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].body, R"({"inputs":["great film, loved it"]})");
  EXPECT_EQ(rows[1].body, R"({"inputs":["awful \"\"acting\"\""]})");  // unquoted: kept as is
}

TEST_F(RowObjectsTest, ACsvRecordOverTheLimitFailsAloneAndAnEndlessQuoteFailsTheObject) {
  auto rows = ReadAll(RowFormat::kCsv, "1,2\n" + std::string(200, '3') + ",4\n5,6\n", 64);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].error.reason(), "row_too_large");
  EXPECT_EQ(rows[2].body, R"({"inputs":[[5,6]]})");

  std::string path = dir_ + "/q.csv";
  ASSERT_TRUE(WriteFileAtomic(path, "1,\"" + std::string(300000, 'x')).ok());
  auto reader = OpenRowReader(RowFormat::kCsv, path, 1024);
  ASSERT_TRUE(reader.ok());
  std::vector<Row> out;
  auto more = (*reader)->Next(10, 1 << 20, &out);
  ASSERT_FALSE(more.ok());
  EXPECT_EQ(more.status().reason(), "row_too_large");
}

TEST_F(RowObjectsTest, CsvHeadersByteOrderMarksAndTheHeaderSetting) {
  // A byte order mark is not part of the header; a first record with numbers is data, so a typo
  // in it fails that row instead of being taken for a header.
  auto rows = ReadAll(RowFormat::kCsv,
                      "\xEF\xBB\xBF"
                      "a,b\n1,2\n");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[1,2]]})");
  rows = ReadAll(RowFormat::kCsv, "1,x\n3,4\n");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_FALSE(rows[0].error.ok());
  EXPECT_EQ(rows[1].body, R"({"inputs":[[3,4]]})");
  // A text CSV without a header: kAbsent keeps its first record.
  std::string path = dir_ + "/t.csv";
  ASSERT_TRUE(WriteFileAtomic(path, "I loved it\nawful\n").ok());
  for (auto [mode, want] : {std::pair{CsvHeader::kAuto, 1u}, std::pair{CsvHeader::kAbsent, 2u},
                            std::pair{CsvHeader::kPresent, 1u}}) {
    auto reader = OpenRowReader(RowFormat::kCsv, path, 1 << 20, mode);
    ASSERT_TRUE(reader.ok());
    std::vector<Row> out;
    ASSERT_TRUE((*reader)->Next(10, 1 << 20, &out).ok());
    EXPECT_EQ(out.size(), want);
  }
  // kPresent drops a numeric first record too.
  ASSERT_TRUE(WriteFileAtomic(path, "1,2\n3,4\n").ok());
  auto reader = OpenRowReader(RowFormat::kCsv, path, 1 << 20, CsvHeader::kPresent);
  std::vector<Row> out;
  ASSERT_TRUE((*reader)->Next(10, 1 << 20, &out).ok());
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].body, R"({"inputs":[[3,4]]})");
}

// A line nested so deep that its /v1/batch request would be refused fails alone.
TEST_F(RowObjectsTest, ADeeplyNestedLineFailsAlone) {
  std::string deep = std::string(61, '[') + "0" + std::string(61, ']');
  std::string ok = std::string(60, '[') + "0" + std::string(60, ']');
  auto rows = ReadAll(RowFormat::kJsonl, "[1]\n" + deep + "\n" + ok + "\n");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].error.ok());
  EXPECT_EQ(rows[1].error.reason(), "invalid_json");
  EXPECT_TRUE(rows[2].error.ok());
}

std::string Npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header =
      "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header.resize(std::max<size_t>(header.size() + 1, 118 - 10), ' ');
  header += '\n';
  std::string npy = std::string("\x93NUMPY\x01\x00", 8);
  npy.push_back(static_cast<char>(header.size() & 0xFF));
  npy.push_back(static_cast<char>(header.size() >> 8));
  return npy + header + data;
}

TEST_F(RowObjectsTest, NpyRowsAlongTheFirstDimension) {
  float v[4] = {1, 2.5f, -3, 4};
  auto rows =
      ReadAll(RowFormat::kNpy, Npy("<f4", "(2, 2)", std::string(reinterpret_cast<char*>(v), 16)));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[1,2.5]]})");
  EXPECT_EQ(rows[1].body, R"({"inputs":[[-3,4]]})");
  int64_t w[2] = {7, -8};
  rows = ReadAll(RowFormat::kNpy, Npy("<i8", "(2,)", std::string(reinterpret_cast<char*>(w), 16)));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].body, R"({"inputs":[-8]})");
  double d[4] = {1, 2, 3, 4};
  rows = ReadAll(RowFormat::kNpy,
                 Npy("<f8", "(1, 2, 2)", std::string(reinterpret_cast<char*>(d), 32)));
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].body, R"({"inputs":[[[1,2],[3,4]]]})");
  EXPECT_TRUE(ReadAll(RowFormat::kNpy, Npy("<f4", "(0, 4)", "")).empty());
  EXPECT_TRUE(
      ReadAll(RowFormat::kNpy, Npy("<f4", "(0, 1000000000000, 1000000000000)", "")).empty());
  // A row over the limit fails alone, without being read.
  rows = ReadAll(RowFormat::kNpy, Npy("<f4", "(2, 2)", std::string(reinterpret_cast<char*>(v), 16)),
                 /*max_row=*/4);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].error.reason(), "row_too_large");
}

// A .npy whose header claims a shape its few bytes cannot hold is refused before any row is
// made (each of these crashed, or made billions of empty rows, before the shape checks).
TEST_F(RowObjectsTest, NpyShapesThatLieAreRefused) {
  for (const char* shape :
       {"(4611686018427387904, 4)", "(99999999999999999999, 1)", "(4294967296, 4294967296)",
        "(1000000000000, 0)", "(2, 2)", "()",
        "(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
        "1, 1, 1, 1)"}) {
    std::string path = dir_ + "/lie.npy";
    ASSERT_TRUE(WriteFileAtomic(path, Npy("<f4", shape, std::string(4, '\0'))).ok());
    auto r = OpenRowReader(RowFormat::kNpy, path, 1 << 20);
    ASSERT_FALSE(r.ok()) << shape;
    EXPECT_EQ(r.status().reason(), "invalid_request") << shape;
  }
  for (const char* descr : {">f4", "<f2", "|b1", "<U3"}) {
    std::string path = dir_ + "/type.npy";
    ASSERT_TRUE(WriteFileAtomic(path, Npy(descr, "(1,)", std::string(4, '\0'))).ok());
    EXPECT_FALSE(OpenRowReader(RowFormat::kNpy, path, 1 << 20).ok()) << descr;
  }
  std::string path = dir_ + "/not.npy";
  ASSERT_TRUE(WriteFileAtomic(path, "PK\x03\x04 not numpy").ok());
  EXPECT_FALSE(OpenRowReader(RowFormat::kNpy, path, 1 << 20).ok());
}

// The header is a dict parsed as such, not searched for substrings: each of these was accepted
// (a big-endian array read as little-endian gave wrong answers silently).
TEST_F(RowObjectsTest, NpyHeadersAreParsedStrictly) {
  auto header = [](const std::string& dict) {
    std::string h = dict;
    h.resize(std::max<size_t>(h.size() + 1, 118 - 10), ' ');
    h += '\n';
    std::string npy = std::string("\x93NUMPY\x01\x00", 8);
    npy.push_back(static_cast<char>(h.size() & 0xFF));
    npy.push_back(static_cast<char>(h.size() >> 8));
    return npy + h;
  };
  const std::string data(32, '\0');  // 8 float32
  for (const char* dict :
       {"{'descr': '>f4', 'fortran_order': False, 'shape': (8,), 'x': '<f4', }",
        "{'descr': '<f4', 'fortran_order': True, 'fortran_order': False, 'shape': (8,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (8, -1), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (8, None), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (2*4,), }",
        "{'descr': '<f4', 'fortran_order': False}", "{'descr': '<f4', 'shape': (8,), }",
        "{'descr': '<f4', 'fortran_order': False, 'shape': (8,), } x",
        "{'descr': '<f4' 'fortran_order': False, 'shape': (8,), }"}) {
    std::string path = dir_ + "/h.npy";
    ASSERT_TRUE(WriteFileAtomic(path, header(dict) + data).ok());
    auto r = OpenRowReader(RowFormat::kNpy, path, 1 << 20);
    EXPECT_FALSE(r.ok()) << dict;
  }
  // What numpy writes, and the same with double quotes and no trailing comma, are read.
  for (const char* dict : {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                           "{\"shape\": (2,4), \"descr\": \"<f4\", \"fortran_order\": False}"}) {
    std::string path = dir_ + "/h.npy";
    ASSERT_TRUE(WriteFileAtomic(path, header(dict) + data).ok());
    EXPECT_TRUE(OpenRowReader(RowFormat::kNpy, path, 1 << 20).ok()) << dict;
  }
  std::string v9 = header("{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }");
  v9[6] = 9;
  std::string path = dir_ + "/v9.npy";
  ASSERT_TRUE(WriteFileAtomic(path, v9 + data).ok());
  EXPECT_FALSE(OpenRowReader(RowFormat::kNpy, path, 1 << 20).ok());
}

TEST_F(RowObjectsTest, NpyRowsWithNaNOrTooMuchNestingFailAlone) {
  float v[4] = {1, std::nanf(""), 3, 4};
  auto rows =
      ReadAll(RowFormat::kNpy, Npy("<f4", "(2, 2)", std::string(reinterpret_cast<char*>(v), 16)));
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_NE(rows[0].error.message().find("NaN"), std::string::npos);
  EXPECT_EQ(rows[1].body, R"({"inputs":[[3,4]]})");
  // 2 rows of 64 values under 20 dimensions of one: each value costs 40 bytes of brackets, over
  // 4x the row limit of 256 bytes as JSON.
  std::string shape = "(2, 64";
  for (int i = 0; i < 20; ++i) shape += ", 1";
  shape += ")";
  rows = ReadAll(RowFormat::kNpy, Npy("<f4", shape, std::string(512, '\0')), /*max_row=*/256);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].error.reason(), "row_too_large");
}

// Results of three rows: two answered (an integer label and two probabilities), one refused.
std::string WriteResults(const std::string& path) {
  ResultsFile results(path);
  EXPECT_TRUE(results.status().ok());
  auto a = Json::Parse(R"({"label":[2],"p":[[0.25,0.75]]})");
  auto b = Json::Parse(R"({"label":[1],"p":[[1,0]]})");
  EXPECT_TRUE(results.AddOutputs(0, *a).ok());
  EXPECT_TRUE(results.AddError(1, "invalid_request", "line 2 is \"bad\", truly").ok());
  EXPECT_TRUE(results.AddOutputs(2, *b).ok());
  EXPECT_TRUE(results.Close().ok());
  return path;
}

TEST_F(RowObjectsTest, ResultsAreJsonLinesWithoutTheSingleRowDimension) {
  std::string path = WriteResults(dir_ + "/r.jsonl");
  EXPECT_EQ(WriteOutput(RowFormat::kJsonl, path, dir_ + "/unused").value(), path);
  EXPECT_EQ(ReadFile(path).value(),
            "{\"row\":0,\"outputs\":{\"label\":2,\"p\":[0.25,0.75]}}\n"
            "{\"row\":1,\"error\":{\"code\":\"invalid_request\",\"detail\":\"line 2 is "
            "\\\"bad\\\", truly\"}}\n"
            "{\"row\":2,\"outputs\":{\"label\":1,\"p\":[1,0]}}\n");
}

TEST_F(RowObjectsTest, CsvResultsHaveAColumnPerElement) {
  std::string path = WriteResults(dir_ + "/r.jsonl");
  auto out = WriteOutput(RowFormat::kCsv, path, dir_ + "/out.csv");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(ReadFile(*out).value(),
            "row,\"label\",\"p_0\",\"p_1\",error_code,error_detail\n"
            "0,2,0.25,0.75,,\"\"\n"
            "1,,,,invalid_request,\"line 2 is \"\"bad\"\", truly\"\n"
            "2,1,1,0,,\"\"\n");
}

TEST_F(RowObjectsTest, NpzResultsAreZipOfNpyArrays) {
  std::string path = WriteResults(dir_ + "/r.jsonl");
  auto out = WriteOutput(RowFormat::kNpy, path, dir_ + "/out.npz");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  std::string zip = ReadFile(*out).value();
  EXPECT_EQ(zip.compare(0, 4, "PK\x03\x04"), 0);
  // Stored entries: each array's header is in the archive as written.
  EXPECT_NE(zip.find("label.npy"), std::string::npos);
  EXPECT_NE(zip.find("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  EXPECT_NE(zip.find("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"),
            std::string::npos);
  EXPECT_NE(zip.find("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  EXPECT_NE(zip.find(std::string("\x01\x00\x01", 3)), std::string::npos);  // row_ok
  // The model's types where the values fit them: p float32, label int32 would not fit 0.25.
  auto typed =
      WriteOutput(RowFormat::kNpy, path, dir_ + "/typed.npz", {{"p", "<f4"}, {"label", "<i4"}});
  ASSERT_TRUE(typed.ok());
  std::string tz = ReadFile(*typed).value();
  EXPECT_NE(tz.find("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }"),
            std::string::npos);
  EXPECT_NE(tz.find("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }"),
            std::string::npos);
  auto loose = WriteOutput(RowFormat::kNpy, path, dir_ + "/loose.npz", {{"p", "<i8"}});
  ASSERT_TRUE(loose.ok());
  EXPECT_NE(
      ReadFile(*loose).value().find("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"),
      std::string::npos);  // 0.25 is no int64
  // Nothing left beside the archive.
  EXPECT_NE(access((dir_ + "/out.npz.0.npy").c_str(), F_OK), 0);
}

}  // namespace
}  // namespace modelfn
