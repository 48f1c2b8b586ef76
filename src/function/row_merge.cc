#include "function/row_merge.h"

namespace modelfn {

bool ModelMergesRows(const Engine& engine) {
  const ModelSchema& schema = engine.schema();
  if (schema.inputs.empty() || !engine.merge_rows()) return false;
  for (const auto& spec : schema.inputs) {
    if (spec.shape.empty() || spec.shape[0] >= 0) return false;
  }
  return true;
}

int64_t MergeRows(const PreparedInputs& p) {
  if (p.inputs.empty()) return -1;
  int64_t rows = -1;
  for (const Tensor& t : p.inputs) {
    if (t.shape.empty()) return -1;
    if (rows < 0) rows = t.shape[0];
    if (t.shape[0] != rows) return -1;
  }
  return rows > 0 ? rows : -1;
}

std::string MergeKey(const PreparedInputs& p) {
  std::string key;
  for (size_t o : p.outputs) key += std::to_string(o) + ",";
  key += "|";
  for (const Tensor& t : p.inputs) {
    for (size_t i = 1; i < t.shape.size(); ++i) key += std::to_string(t.shape[i]) + ",";
    key += "|";
  }
  return key;
}

Tensor ConcatRows(const std::vector<const Tensor*>& parts) {
  Tensor t;
  t.name = parts[0]->name;
  t.dtype = parts[0]->dtype;
  t.shape = parts[0]->shape;
  t.shape[0] = 0;
  size_t bytes = 0, strings = 0;
  for (const Tensor* p : parts) {
    bytes += p->data.size();
    strings += p->strings.size();
  }
  t.data.reserve(bytes);
  t.strings.reserve(strings);
  for (const Tensor* p : parts) {
    t.shape[0] += p->shape[0];
    t.data.insert(t.data.end(), p->data.begin(), p->data.end());
    t.strings.insert(t.strings.end(), p->strings.begin(), p->strings.end());
  }
  return t;
}

std::vector<Tensor> SplitRows(const Tensor& t, const std::vector<int64_t>& rows) {
  std::vector<Tensor> out;
  out.reserve(rows.size());
  int64_t total = t.shape[0];
  size_t row_bytes = total > 0 ? t.data.size() / static_cast<size_t>(total) : 0;
  size_t row_strings = total > 0 ? t.strings.size() / static_cast<size_t>(total) : 0;
  size_t b = 0, s = 0;
  for (int64_t r : rows) {
    Tensor piece;
    piece.name = t.name;
    piece.dtype = t.dtype;
    piece.shape = t.shape;
    piece.shape[0] = r;
    size_t nb = row_bytes * static_cast<size_t>(r), ns = row_strings * static_cast<size_t>(r);
    piece.data.assign(t.data.begin() + static_cast<ptrdiff_t>(b),
                      t.data.begin() + static_cast<ptrdiff_t>(b + nb));
    piece.strings.assign(t.strings.begin() + static_cast<ptrdiff_t>(s),
                         t.strings.begin() + static_cast<ptrdiff_t>(s + ns));
    b += nb;
    s += ns;
    out.push_back(std::move(piece));
  }
  return out;
}

}  // namespace modelfn
