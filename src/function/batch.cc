#include "function/batch.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "http/problem.h"

namespace modelfn {
namespace {

struct BatchItem {
  std::optional<PreparedInputs> prepared;
  Status error;
  int64_t rows = -1;  // shared first dimension of every input, -1 when not batchable
  std::vector<Tensor> outputs;
  bool done = false;
};

// The texts of every text item are tokenized as one batch, so all are padded to the longest of
// the batch and the items merge into one run as tensors of equal shapes do. When that fails (a
// bad text, or the budget), each item is tokenized alone so that only the bad ones fail.
void EncodeBatchTexts(const Pipeline* pipeline, int64_t* budget, std::vector<BatchItem>* batch) {
  if (pipeline == nullptr || !pipeline->has_text()) return;
  std::vector<std::string_view> all;
  std::vector<BatchItem*> text_items;
  for (BatchItem& it : *batch) {
    if (it.done || !it.prepared->text) continue;
    text_items.push_back(&it);
    for (const std::string& s : it.prepared->texts) all.emplace_back(s);
  }
  if (text_items.empty()) return;
  int64_t fed = 0;
  for (size_t i = 0; i < text_items[0]->prepared->inputs.size(); ++i) {
    fed += pipeline->IsTextInput(i) ? 1 : 0;
  }
  auto joint = pipeline->Tokenize(all);
  if (joint.ok() && joint->rows * joint->cols * fed <= *budget) {
    *budget -= joint->rows * joint->cols * fed;
    int64_t row = 0;
    for (BatchItem* it : text_items) {
      auto n = static_cast<int64_t>(it->prepared->texts.size());
      pipeline->FillTextInputs(*joint, row, n, &it->prepared->inputs);
      row += n;
    }
    return;
  }
  for (BatchItem* it : text_items) {
    if (Status s = EncodeTextInputs(*pipeline, &*it->prepared, budget); !s.ok()) {
      it->error = s;
      it->done = true;
    }
  }
}

Tensor Concat(const std::vector<const Tensor*>& parts) {
  Tensor t;
  t.name = parts[0]->name;
  t.dtype = parts[0]->dtype;
  t.shape = parts[0]->shape;
  t.shape[0] = 0;
  for (const Tensor* p : parts) {
    t.shape[0] += p->shape[0];
    t.data.insert(t.data.end(), p->data.begin(), p->data.end());
    t.strings.insert(t.strings.end(), p->strings.begin(), p->strings.end());
  }
  return t;
}

// Splits `t` along its first dimension into pieces of `rows` each (sum == t.shape[0]).
std::vector<Tensor> Split(const Tensor& t, const std::vector<int64_t>& rows) {
  std::vector<Tensor> out;
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

std::string GroupKey(const PreparedInputs& p) {
  std::string key;
  for (size_t o : p.outputs) key += std::to_string(o) + ",";
  key += "|";
  for (const Tensor& t : p.inputs) {
    for (size_t i = 1; i < t.shape.size(); ++i) key += std::to_string(t.shape[i]) + ",";
    key += "|";
  }
  return key;
}

void RunOne(Engine& engine, const RunLimits& run_limits, BatchItem* item, int* calls) {
  ++*calls;
  auto r = RunPrepared(engine, *item->prepared, run_limits);
  if (r.ok()) {
    item->outputs = std::move(r).value();
  } else {
    item->error = r.status();
  }
  item->done = true;
}

}  // namespace

BatchStats RunBatch(const Json::Array& items, Engine& engine, const InferenceLimits& limits,
                    const RunLimits& run_limits, std::string_view model_name, JsonWriter* w) {
  const ModelSchema& schema = engine.schema();
  BatchStats stats;
  std::vector<BatchItem> batch(items.size());
  int64_t budget = limits.max_elements;
  bool batchable_model = !schema.inputs.empty() && engine.merge_rows();
  for (const auto& spec : schema.inputs) {
    batchable_model = batchable_model && !spec.shape.empty() && spec.shape[0] < 0;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    BatchItem& it = batch[i];
    const Json& body = items[i];
    if (const Json* m = body.is_object() ? body.Find("model") : nullptr;
        m && (!m->is_string() || m->AsString() != model_name)) {
      it.error =
          Status(StatusCode::kNotFound,
                 "this function serves model '" + std::string(model_name) + "'", "not_found");
      it.done = true;
      continue;
    }
    auto p = PrepareSeedRequest(body, schema, &budget, engine.pipeline());
    if (!p.ok()) {
      it.error = p.status();
      it.done = true;
      if (p.status().reason() == "too_many_elements") budget = 0;
      continue;
    }
    it.prepared = std::move(p).value();
  }
  EncodeBatchTexts(engine.pipeline(), &budget, &batch);
  for (BatchItem& it : batch) {
    if (it.done) continue;
    if (Status s = CheckInputLimits(engine, it.prepared->inputs); !s.ok()) {
      it.error = s;
      it.done = true;
      continue;
    }
    if (batchable_model) {
      int64_t rows = it.prepared->inputs[0].shape[0];
      bool same = true;
      for (const Tensor& t : it.prepared->inputs) same = same && t.shape[0] == rows;
      it.rows = same && rows > 0 ? rows : -1;
    }
  }
  // Group compatible items (same trailing dims and outputs), preserving first appearance.
  std::map<std::string, std::vector<size_t>> groups;
  std::vector<std::string> order;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done || batch[i].rows < 0) continue;
    std::string key = GroupKey(*batch[i].prepared);
    if (groups.find(key) == groups.end()) order.push_back(key);
    groups[key].push_back(i);
  }
  for (const std::string& key : order) {
    const std::vector<size_t>& members = groups[key];
    if (members.size() < 2) continue;
    const PreparedInputs& first = *batch[members[0]].prepared;
    std::vector<Tensor> merged;
    std::vector<int64_t> rows;
    for (size_t m : members) rows.push_back(batch[m].rows);
    for (size_t k = 0; k < first.inputs.size(); ++k) {
      std::vector<const Tensor*> parts;
      for (size_t m : members) parts.push_back(&batch[m].prepared->inputs[k]);
      merged.push_back(Concat(parts));
    }
    // Rows merged past a declared maximum (of the batch dimension) run one item at a time.
    if (!CheckInputLimits(engine, merged).ok()) continue;
    std::vector<const Tensor*> ptrs;
    for (const Tensor& t : merged) ptrs.push_back(&t);
    ++stats.engine_calls;
    auto r = engine.Run(ptrs, first.outputs, run_limits);
    if (!r.ok()) continue;  // fall back to one call per item, so only the bad ones fail
    int64_t total = 0;
    for (int64_t x : rows) total += x;
    bool splittable = true;
    for (const Tensor& o : *r) splittable = splittable && !o.shape.empty() && o.shape[0] == total;
    if (!splittable) continue;
    std::vector<std::vector<Tensor>> per_output;
    for (const Tensor& o : *r) per_output.push_back(Split(o, rows));
    for (size_t j = 0; j < members.size(); ++j) {
      BatchItem& it = batch[members[j]];
      for (auto& pieces : per_output) it.outputs.push_back(std::move(pieces[j]));
      it.done = true;
    }
  }
  for (BatchItem& it : batch) {
    if (!it.done) RunOne(engine, run_limits, &it, &stats.engine_calls);
  }
  w->Key("results").BeginArray();
  for (BatchItem& it : batch) {
    ++stats.items;
    w->BeginObject();
    std::optional<std::vector<ReportedOutput>> reported;
    if (it.error.ok()) {
      auto r = ReportOutputs(engine.pipeline(), std::move(it.outputs), it.prepared->inputs);
      if (r.ok()) {
        reported = std::move(r).value();
        DropSingleBatchDim(*it.prepared, &*reported);
      } else {
        it.error = r.status();
      }
    }
    if (it.error.ok()) {
      WriteSeedOutputs(*reported, w);
    } else {
      ++stats.failed;
      w->Key("error").Raw(ProblemFromStatus(it.error).ToJson());
    }
    w->EndObject();
  }
  w->EndArray();
  return stats;
}

}  // namespace modelfn
