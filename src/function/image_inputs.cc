#include "function/image_inputs.h"

#include "common/base64.h"

namespace modelfn {
namespace {

Status Invalid(std::string reason, std::string msg) {
  return Status(StatusCode::kInvalidArgument, std::move(msg), std::move(reason));
}

std::string MediaType(const std::string& ct) {
  std::string out;
  for (char c : ct) {
    if (c == ';') break;
    if (c == ' ' || c == '\t') continue;
    out.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return out;
}

std::string InputNames(const ModelSchema& schema) {
  std::string s;
  for (const auto& in : schema.inputs) s += (s.empty() ? "'" : ", '") + in.name + "'";
  return s;
}

// Schema index of the model's only input when it is an image input, else -1.
int SoleImageInput(const Pipeline& pipeline) {
  const ModelSchema& schema = pipeline.model();
  return schema.inputs.size() == 1 && pipeline.ImageInput(0) != nullptr ? 0 : -1;
}

// Decodes base64 images (`texts[k]` for image k of input `name`): plain base64, or a data: URL
// whose payload is base64 ("data:image/png;base64,iVBOR...").
Status DecodeBase64Images(const std::vector<std::string_view>& texts, const std::string& name,
                          std::vector<std::string>* out) {
  out->reserve(texts.size());
  for (size_t k = 0; k < texts.size(); ++k) {
    std::string_view text = texts[k];
    auto where = [&] { return "input '" + name + "', image " + std::to_string(k); };
    if (text.substr(0, 5) == "data:") {
      size_t comma = text.find(',');
      std::string_view head = text.substr(0, comma);
      if (comma == std::string_view::npos || head.size() < 7 ||
          head.substr(head.size() - 7) != ";base64") {
        return Invalid("invalid_base64",
                       where() + ": a data: URL must hold base64 (data:image/png;base64,...)");
      }
      text.remove_prefix(comma + 1);
    }
    auto bytes = Base64Decode(text);
    if (!bytes.ok()) {
      return Invalid("invalid_base64",
                     where() + ": " + bytes.status().message() +
                         " (images in JSON are base64 strings, or data: URLs holding base64)");
    }
    out->push_back(std::move(bytes).value());
  }
  return Status::Ok();
}

}  // namespace

bool IsImageMediaType(const std::string* content_type) {
  if (content_type == nullptr) return false;
  std::string m = MediaType(*content_type);
  return m == "image/jpeg" || m == "image/png" || m == "image/webp";
}

Status PrepareImageInput(const Pipeline& pipeline, size_t i,
                         const std::vector<std::string_view>& encoded, int64_t* budget,
                         Tensor* out) {
  const TensorSpec& spec = pipeline.model().inputs[i];
  auto n = static_cast<int64_t>(encoded.size());
  if (n == 0) return Invalid("invalid_request", "input '" + spec.name + "' holds no images");
  if (spec.shape[0] >= 0 && spec.shape[0] != n) {
    return Invalid("shape_mismatch", "input '" + spec.name + "' takes " +
                                         std::to_string(spec.shape[0]) + " image(s) per request, " +
                                         "got " + std::to_string(n));
  }
  int64_t elements = pipeline.ImageElements(i, n);
  if (elements > *budget) {
    return Status(StatusCode::kResourceExhausted,
                  std::to_string(n) + " image(s) for input '" + spec.name + "' make " +
                      std::to_string(elements) + " tensor elements, over the request's limit of " +
                      std::to_string(*budget),
                  "too_many_elements");
  }
  ASSIGN_OR_RETURN(*out, pipeline.PrepareImages(i, encoded));
  *budget -= elements;
  return Status::Ok();
}

StatusOr<PreparedInputs> PrepareRawImageRequest(std::string_view body, const Pipeline* pipeline,
                                                int64_t* budget) {
  int idx = pipeline != nullptr ? SoleImageInput(*pipeline) : -1;
  if (idx < 0) {
    std::string why = pipeline == nullptr || !pipeline->has_images()
                          ? "this model has no image input"
                          : "this model has inputs " + InputNames(pipeline->model()) +
                                ": send JSON with \"inputs\" keyed by input name, images as "
                                "base64 strings";
    return Invalid("unsupported_media_type",
                   "an image body feeds a model whose only input is an "
                   "image input; " +
                       why);
  }
  if (body.empty()) return Invalid("invalid_request", "the request body is empty");
  PreparedInputs p;
  p.inputs.resize(1);
  RETURN_IF_ERROR(PrepareImageInput(*pipeline, 0, {body}, budget, &p.inputs[0]));
  p.single = true;
  for (size_t o = 0; o < pipeline->model().outputs.size(); ++o) p.outputs.push_back(o);
  return p;
}

bool IsImageValue(const Json& value) {
  if (value.is_string()) return true;
  return value.is_array() && !value.AsArray().empty() && value.AsArray()[0].is_string();
}

Status ImageValue(const Json& value, const Pipeline& pipeline, size_t i, int64_t* budget,
                  Tensor* out) {
  const std::string& name = pipeline.model().inputs[i].name;
  std::vector<std::string_view> texts;
  if (value.is_string()) {
    texts.emplace_back(value.AsString());
  } else if (value.is_array()) {
    const Json::Array& a = value.AsArray();
    for (size_t k = 0; k < a.size(); ++k) {
      if (!a[k].is_string()) {
        return Invalid("invalid_request", "input '" + name + "', element " + std::to_string(k) +
                                              " is not a string: images go as base64 strings");
      }
      texts.emplace_back(a[k].AsString());
    }
  }
  if (texts.empty()) return Invalid("invalid_request", "input '" + name + "' holds no images");
  std::vector<std::string> bytes;
  RETURN_IF_ERROR(DecodeBase64Images(texts, name, &bytes));
  std::vector<std::string_view> encoded(bytes.begin(), bytes.end());
  return PrepareImageInput(pipeline, i, encoded, budget, out);
}

StatusOr<bool> TakeSeedImages(const Json& inputs, const Pipeline& pipeline, int64_t* budget,
                              PreparedInputs* p) {
  if (!IsImageValue(inputs) && !(inputs.is_array() && inputs.AsArray().empty())) return false;
  int idx = SoleImageInput(pipeline);
  if (idx < 0) {
    return Invalid("invalid_request",
                   "this model has inputs " + InputNames(pipeline.model()) +
                       ": send \"inputs\" as an object keyed by input name (images as base64 "
                       "strings)");
  }
  p->inputs.resize(1);
  RETURN_IF_ERROR(ImageValue(inputs, pipeline, 0, budget, &p->inputs[0]));
  p->single = inputs.is_string();
  return true;
}

Status V2ImageInput(const Pipeline& pipeline, size_t i, bool base64, int64_t* budget, Tensor* t) {
  if (t->shape.empty() || t->shape.size() > 2 || (t->shape.size() == 2 && t->shape[1] != 1)) {
    return Invalid("shape_mismatch", "input '" + t->name +
                                         "': images go in a BYTES tensor of shape [N] or [N, 1], "
                                         "got " +
                                         ShapeToString(t->shape));
  }
  std::vector<std::string> decoded;
  std::vector<std::string_view> encoded(t->strings.begin(), t->strings.end());
  if (base64) {
    RETURN_IF_ERROR(DecodeBase64Images(encoded, t->name, &decoded));
    encoded.assign(decoded.begin(), decoded.end());
  }
  Tensor out;
  RETURN_IF_ERROR(PrepareImageInput(pipeline, i, encoded, budget, &out));
  *t = std::move(out);
  return Status::Ok();
}

}  // namespace modelfn
