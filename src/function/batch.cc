#include "function/batch.h"

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "function/row_merge.h"
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
  bool batchable_model = ModelMergesRows(engine);
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
    if (batchable_model) it.rows = MergeRows(*it.prepared);
  }
  // Group compatible items (same trailing dims and outputs), preserving first appearance.
  std::map<std::string, std::vector<size_t>> groups;
  std::vector<std::string> order;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].done || batch[i].rows < 0) continue;
    std::string key = MergeKey(*batch[i].prepared);
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
      merged.push_back(ConcatRows(parts));
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
    for (const Tensor& o : *r) per_output.push_back(SplitRows(o, rows));
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
