#include "optimize/accuracy.h"

#include <cmath>
#include <cstdio>
#include <limits>

#include "common/json.h"
#include "function/inference.h"

namespace modelfn {
namespace {

bool Floating(DType t) { return t == DType::kFp16 || t == DType::kFp32 || t == DType::kFp64; }

double ValueAt(const Tensor& t, int64_t i) {
  switch (t.dtype) {
    case DType::kFp16:
      return HalfToFloat(t.As<uint16_t>()[i]);
    case DType::kFp64:
      return t.As<double>()[i];
    default:
      return t.As<float>()[i];
  }
}

bool ElementEqual(const Tensor& a, const Tensor& b, int64_t i) {
  if (a.dtype == DType::kBytes)
    return a.strings[static_cast<size_t>(i)] == b.strings[static_cast<size_t>(i)];
  size_t w = DTypeSize(a.dtype);
  return std::equal(a.data.begin() + i * static_cast<int64_t>(w),
                    a.data.begin() + (i + 1) * static_cast<int64_t>(w),
                    b.data.begin() + i * static_cast<int64_t>(w));
}

struct Tally {
  double max_abs_error = 0, max_abs_value = 0;
  uint64_t agree = 0, rows = 0;
};

void Compare(const Tensor& a, const Tensor& b, Tally* t) {
  const int64_t n = a.NumElements();
  if (!Floating(a.dtype)) {
    for (int64_t i = 0; i < n; ++i) t->agree += ElementEqual(a, b, i) ? 1 : 0;
    t->rows += static_cast<uint64_t>(n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    double x = ValueAt(a, i), y = ValueAt(b, i);
    double err = (std::isnan(x) && std::isnan(y))   ? 0
                 : (std::isnan(x) || std::isnan(y)) ? std::numeric_limits<double>::infinity()
                                                    : std::fabs(x - y);
    t->max_abs_error = std::max(t->max_abs_error, err);
    if (!std::isnan(x)) t->max_abs_value = std::max(t->max_abs_value, std::fabs(x));
  }
  const int64_t classes = a.shape.empty() ? 0 : a.shape.back();
  if (classes < 2) return;
  for (int64_t row = 0; row + classes <= n; row += classes) {
    int64_t ia = row, ib = row;
    for (int64_t k = row; k < row + classes; ++k) {
      if (ValueAt(a, k) > ValueAt(a, ia)) ia = k;
      if (ValueAt(b, k) > ValueAt(b, ib)) ib = k;
    }
    t->agree += ia == ib ? 1 : 0;
    ++t->rows;
  }
}

}  // namespace

StatusOr<AccuracyReport> CompareEngines(Engine& original, Engine& optimized,
                                        const Samples& samples) {
  const ModelSchema& schema = original.schema();
  std::vector<Tally> tallies(schema.outputs.size());
  AccuracyReport report;
  for (size_t s = 0; s < samples.bodies.size(); ++s) {
    const std::string which = "sample " + std::to_string(s + 1) + " of " + samples.source;
    auto bad = [&](const Status& st) {
      return Status(StatusCode::kInvalidArgument, which + ": " + st.message(), "invalid_samples");
    };
    auto body = Json::Parse(samples.bodies[s]);
    if (!body.ok()) return bad(body.status());
    int64_t budget = int64_t{1} << 30;
    auto prepared = PrepareSeedRequest(*body, schema, &budget, original.pipeline());
    if (!prepared.ok()) return bad(prepared.status());
    if (prepared->text && original.pipeline() != nullptr) {
      if (Status st = EncodeTextInputs(*original.pipeline(), &*prepared, &budget); !st.ok()) {
        return bad(st);
      }
    }
    // Every output, whatever the sample asked for.
    prepared->outputs.clear();
    for (size_t i = 0; i < schema.outputs.size(); ++i) prepared->outputs.push_back(i);
    auto want = RunPrepared(original, *prepared, RunLimits());
    if (!want.ok()) return bad(want.status());
    auto got = RunPrepared(optimized, *prepared, RunLimits());
    if (!got.ok()) {
      return Status(StatusCode::kFailedPrecondition,
                    "the optimised model fails " + which + ": " + got.status().message(),
                    "optimized_model_fails");
    }
    for (size_t i = 0; i < want->size(); ++i) {
      const Tensor &a = (*want)[i], &b = (*got)[i];
      if (a.dtype != b.dtype || a.shape != b.shape) {
        return Status(StatusCode::kFailedPrecondition,
                      "the optimised model answers " + which + " with output '" + a.name + "' " +
                          DTypeName(b.dtype) + ShapeToString(b.shape) + " instead of " +
                          DTypeName(a.dtype) + ShapeToString(a.shape),
                      "optimized_model_fails");
      }
      Compare(a, b, &tallies[i]);
    }
    ++report.samples;
  }
  for (size_t i = 0; i < schema.outputs.size(); ++i) {
    OutputAccuracy o;
    o.name = schema.outputs[i].name;
    o.floating = Floating(schema.outputs[i].dtype);
    o.max_abs_error = tallies[i].max_abs_error;
    o.max_abs_value = tallies[i].max_abs_value;
    o.rows = tallies[i].rows;
    if (o.rows > 0)
      o.agreement = static_cast<double>(tallies[i].agree) / static_cast<double>(o.rows);
    report.max_abs_error = std::max(report.max_abs_error, o.max_abs_error);
    if (o.agreement && (!report.agreement || *o.agreement < *report.agreement)) {
      report.agreement = o.agreement;
    }
    report.outputs.push_back(std::move(o));
  }
  return report;
}

Status CheckGate(const AccuracyReport& report, const AccuracyGate& gate) {
  std::string broken;
  auto num = [](double v) { return Json::Double(v).Dump(); };
  for (const OutputAccuracy& o : report.outputs) {
    if (gate.max_abs_error && o.floating && o.max_abs_error > *gate.max_abs_error) {
      broken += (broken.empty() ? "" : "; ") + std::string("output '") + o.name +
                "': max abs error " + num(o.max_abs_error) + " > " + num(*gate.max_abs_error);
    }
    if (gate.min_agreement && o.agreement && *o.agreement < *gate.min_agreement) {
      broken += (broken.empty() ? "" : "; ") + std::string("output '") + o.name + "': agreement " +
                num(*o.agreement) + " < " + num(*gate.min_agreement);
    }
  }
  if (broken.empty()) return Status::Ok();
  return Status(StatusCode::kFailedPrecondition,
                "the optimised model breaks the accuracy gate on " +
                    std::to_string(report.samples) + " samples: " + broken,
                "accuracy_gate_failed");
}

std::string AccuracyJson(const AccuracyReport& report, bool synthetic) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("samples").Uint(report.samples).Key("synthetic").Bool(synthetic);
  w.Key("max_abs_error").Double(report.max_abs_error);
  w.Key("agreement");
  if (report.agreement) {
    w.Double(*report.agreement);
  } else {
    w.Null();
  }
  w.Key("outputs").BeginArray();
  for (const OutputAccuracy& o : report.outputs) {
    w.BeginObject().Key("name").String(o.name);
    if (o.floating) {
      w.Key("max_abs_error").Double(o.max_abs_error).Key("max_abs_value").Double(o.max_abs_value);
    }
    w.Key("agreement");
    if (o.agreement) {
      w.Double(*o.agreement);
    } else {
      w.Null();
    }
    w.Key("rows").Uint(o.rows).EndObject();
  }
  w.EndArray().EndObject();
  return out;
}

}  // namespace modelfn
