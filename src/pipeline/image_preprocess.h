// Resizing, channel order, layout and normalisation of a decoded image into a model's float input,
// as a pipeline input of source "image" declares.
//
// Resizing follows Pillow's Image.resize for 8-bit RGB: "bilinear" and "bicubic" (a = -0.5) are
// separable convolutions whose support widens by the scale factor when shrinking (antialiased),
// the horizontal pass first, with fixed-point weights (22 fraction bits) as Pillow's 8-bit
// resampling, each pass rounded and clamped to 0..255; "nearest" takes the source
// pixel under each output pixel's centre. Then each sample v becomes (v * scale - mean[c]) /
// std[c].
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "manifest/pipeline_spec.h"
#include "pipeline/image_decode.h"
#include "tensor/tensor.h"

namespace modelfn {

// Resizes `img` to out_w x out_h with `filter` ("bilinear", "bicubic" or "nearest").
RgbImage ResizeRgb(const RgbImage& img, int64_t out_w, int64_t out_h, const std::string& filter);

// Writes one image as spec.height x spec.width float samples at `out` (3 * h * w floats) in the
// spec's layout (NCHW: planes; NHWC: interleaved) and colour order, normalised.
void ImageToFloats(const RgbImage& img, const ImageSpec& spec, float* out);

// Decodes and prepares a batch of encoded images into one FP32 tensor named `name`, of shape
// [N, 3, h, w] (NCHW) or [N, h, w, 3] (NHWC). Errors: DecodeImage's (the message names the image's
// index); InvalidArgument "invalid_request" for an empty batch.
StatusOr<Tensor> ImagesToTensor(const std::vector<std::string_view>& encoded, const ImageSpec& spec,
                                const std::string& name);

}  // namespace modelfn
