#include "engine/onnx_model_info.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <functional>
#include <memory>

namespace modelfn {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// Field numbers from onnx/onnx.proto (stable since IR version 3).
namespace field {
constexpr int kModelGraph = 7;
constexpr int kModelFunctions = 25;
constexpr int kGraphNode = 1;
constexpr int kGraphInitializer = 5;
constexpr int kGraphSparseInitializer = 15;
constexpr int kFunctionNode = 7;
constexpr int kNodeOpType = 4;
constexpr int kNodeAttribute = 5;
constexpr int kNodeDomain = 7;
constexpr int kAttrTensor = 5;
constexpr int kAttrGraph = 6;
constexpr int kAttrTensors = 10;
constexpr int kAttrGraphs = 11;
constexpr int kAttrSparseTensor = 22;
constexpr int kAttrSparseTensors = 23;
constexpr int kTensorExternalData = 13;
constexpr int kTensorDataLocation = 14;
constexpr int kSparseValues = 1;
constexpr int kSparseIndices = 2;
constexpr int kEntryKey = 1;
constexpr int kEntryValue = 2;
}  // namespace field

constexpr int kDataLocationExternal = 1;
constexpr int kMaxDepth = 64;

class Walker {
 public:
  Walker(CodedInputStream* in, OnnxModelInfo* info) : in_(in), info_(info) {}

  bool Model() {
    return Fields([&](int f) {
      if (f == field::kModelGraph) return Nested([&] { return Graph(); });
      if (f == field::kModelFunctions) return Nested([&] { return Function(); });
      return Skip();
    });
  }

  const std::string& error() const { return error_; }

 private:
  using FieldFn = std::function<bool(int)>;

  // Reads the fields of the current message up to its limit; `on_field` consumes one field whose
  // tag was just read (or skips it).
  bool Fields(const FieldFn& on_field) {
    while (true) {
      tag_ = in_->ReadTag();
      if (tag_ == 0) return in_->BytesUntilLimit() == 0 || Fail("truncated or malformed protobuf");
      if (!on_field(WireFormatLite::GetTagFieldNumber(tag_))) return false;
    }
  }

  bool Skip() { return WireFormatLite::SkipField(in_, tag_) || Fail("malformed protobuf field"); }

  bool IsLengthDelimited() const {
    return WireFormatLite::GetTagWireType(tag_) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  }

  template <typename F>
  bool Nested(F&& body) {
    if (!IsLengthDelimited()) return Skip();
    if (depth_ >= kMaxDepth) return Fail("subgraphs nest deeper than 64 levels");
    uint32_t len = 0;
    if (!in_->ReadVarint32(&len) || static_cast<int>(len) > in_->BytesUntilLimit()) {
      return Fail("a message runs past its end");
    }
    auto limit = in_->PushLimit(static_cast<int>(len));
    ++depth_;
    bool ok = body();
    --depth_;
    in_->PopLimit(limit);
    return ok;
  }

  bool ReadString(std::string* s) {
    if (!IsLengthDelimited()) return Skip();
    uint32_t len = 0;
    if (!in_->ReadVarint32(&len) || !in_->ReadString(s, static_cast<int>(len))) {
      return Fail("a string runs past its end");
    }
    return true;
  }

  bool Graph() {
    return Fields([&](int f) {
      switch (f) {
        case field::kGraphNode:
          return Nested([&] { return Node(); });
        case field::kGraphInitializer:
          return Nested([&] { return Tensor(); });
        case field::kGraphSparseInitializer:
          return Nested([&] { return SparseTensor(); });
        default:
          return Skip();
      }
    });
  }

  bool Function() {
    return Fields([&](int f) {
      if (f == field::kFunctionNode) return Nested([&] { return Node(); });
      return Skip();
    });
  }

  bool Node() {
    std::string op, domain;
    bool ok = Fields([&](int f) {
      switch (f) {
        case field::kNodeOpType:
          return ReadString(&op);
        case field::kNodeDomain:
          return ReadString(&domain);
        case field::kNodeAttribute:
          return Nested([&] { return Attribute(); });
        default:
          return Skip();
      }
    });
    if (!ok) return false;
    if (domain == "ai.onnx") domain.clear();
    info_->ops.insert(domain.empty() ? op : domain + ":" + op);
    return true;
  }

  bool Attribute() {
    return Fields([&](int f) {
      switch (f) {
        case field::kAttrTensor:
        case field::kAttrTensors:
          return Nested([&] { return Tensor(); });
        case field::kAttrGraph:
        case field::kAttrGraphs:
          return Nested([&] { return Graph(); });
        case field::kAttrSparseTensor:
        case field::kAttrSparseTensors:
          return Nested([&] { return SparseTensor(); });
        default:
          return Skip();
      }
    });
  }

  bool SparseTensor() {
    return Fields([&](int f) {
      if (f == field::kSparseValues || f == field::kSparseIndices) {
        return Nested([&] { return Tensor(); });
      }
      return Skip();
    });
  }

  bool Tensor() {
    std::string location;
    bool has_location = false;
    uint64_t data_location = 0;
    bool ok = Fields([&](int f) {
      if (f == field::kTensorDataLocation &&
          WireFormatLite::GetTagWireType(tag_) == WireFormatLite::WIRETYPE_VARINT) {
        return in_->ReadVarint64(&data_location) || Fail("malformed data_location");
      }
      if (f != field::kTensorExternalData) return Skip();
      std::string key, value;
      bool entry_ok = Nested([&] {
        return Fields([&](int g) {
          if (g == field::kEntryKey) return ReadString(&key);
          if (g == field::kEntryValue) return ReadString(&value);
          return Skip();
        });
      });
      if (entry_ok && key == "location") {
        location = std::move(value);
        has_location = true;
      }
      return entry_ok;
    });
    if (!ok) return false;
    if (data_location != kDataLocationExternal) return true;
    if (!has_location) return Fail("a tensor stored externally names no 'location'");
    for (const std::string& known : info_->external_files) {
      if (known == location) return true;
    }
    info_->external_files.push_back(std::move(location));
    return true;
  }

  bool Fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    return false;
  }

  CodedInputStream* in_;
  OnnxModelInfo* info_;
  uint32_t tag_ = 0;
  int depth_ = 0;
  std::string error_;
};

Status Unsafe(std::string_view location, const std::string& why) {
  return Status(StatusCode::kInvalidArgument,
                "external data file '" + std::string(location) + "' " + why +
                    ": a model may only read files inside its own folder",
                "unsafe_external_data");
}

}  // namespace

StatusOr<OnnxModelInfo> InspectOnnxModel(std::string_view model_bytes) {
  if (model_bytes.size() > static_cast<size_t>(INT_MAX)) {
    return Status(StatusCode::kInvalidArgument,
                  "the model file is over 2 GB: store the weights as external data",
                  "invalid_model");
  }
  OnnxModelInfo info;
  CodedInputStream in(reinterpret_cast<const uint8_t*>(model_bytes.data()),
                      static_cast<int>(model_bytes.size()));
  in.SetTotalBytesLimit(INT_MAX);
  auto limit = in.PushLimit(static_cast<int>(model_bytes.size()));
  Walker walker(&in, &info);
  bool ok = walker.Model();
  in.PopLimit(limit);
  if (!ok) {
    return Status(StatusCode::kInvalidArgument, "not a valid ONNX model: " + walker.error(),
                  "invalid_model");
  }
  return info;
}

StatusOr<std::string> ResolveExternalFile(const std::string& model_dir, std::string_view location) {
  if (location.empty()) return Unsafe(location, "has an empty name");
  if (location.find('\0') != std::string_view::npos) return Unsafe(location, "contains a NUL");
  if (location.front() == '/') return Unsafe(location, "is an absolute path");
  std::string rel;
  for (size_t pos = 0; pos <= location.size();) {
    size_t next = location.find('/', pos);
    if (next == std::string_view::npos) next = location.size();
    std::string_view part = location.substr(pos, next - pos);
    pos = next + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return Unsafe(location, "has a '..' component");
    if (!rel.empty()) rel += '/';
    rel += part;
  }
  if (rel.empty()) return Unsafe(location, "names the model folder itself");
  std::unique_ptr<char, decltype(&free)> real_dir(realpath(model_dir.c_str(), nullptr), &free);
  if (!real_dir) {
    return NotFoundError("model folder " + model_dir + " cannot be resolved: " + strerror(errno));
  }
  std::string path = model_dir + "/" + rel;
  std::unique_ptr<char, decltype(&free)> real(realpath(path.c_str(), nullptr), &free);
  if (!real) {
    if (errno == ENOENT || errno == ENOTDIR) {
      return Status(StatusCode::kNotFound,
                    "external data file '" + std::string(location) + "' is not in " + model_dir,
                    "external_data_missing");
    }
    return Unsafe(location, std::string("cannot be resolved (") + strerror(errno) + ")");
  }
  std::string inside = std::string(real_dir.get());
  if (inside != "/") inside += '/';
  if (std::string_view(real.get()).substr(0, inside.size()) != inside) {
    return Unsafe(location, "leads out of the model folder (to " + std::string(real.get()) + ")");
  }
  struct stat st;
  if (stat(real.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Unsafe(location, "is not a regular file");
  }
  return rel;
}

std::vector<std::string> BatchDependentOps(const OnnxModelInfo& info) {
  // Each quantises its input with one scale and zero point computed from the min and max over the
  // whole tensor, so every row's result depends on the values of the other rows.
  static const char* const kOps[] = {
      "DynamicQuantizeLinear",
      "com.microsoft:DynamicQuantizeLSTM",
      "com.microsoft:DynamicQuantizeMatMul",
  };
  std::vector<std::string> out;
  for (const char* op : kOps) {
    if (info.ops.count(op) != 0) out.emplace_back(op);
  }
  return out;
}

}  // namespace modelfn
