#include "gateway/pipeline.h"

#include "gateway/answers.h"

namespace modelfn::gateway {

Pipeline::Pipeline(std::vector<std::unique_ptr<Stage>> stages, const Clock* clock)
    : stages_(std::move(stages)), clock_(clock) {}

bool Pipeline::CheckHead(HttpRequest* head, HttpResponse* early) {
  for (size_t i = 0; i < stages_.size(); ++i) {
    if (stages_[i]->OnHead(head, early)) continue;
    for (size_t j = i; j-- > 0;) stages_[j]->OnEarlyAnswer(*head, early);
    return false;
  }
  return true;
}

void Pipeline::Handle(HttpRequest request, std::function<void(HttpResponse)> respond) {
  auto ex = std::make_unique<Exchange>();
  ex->arrived_ns = clock_->MonotonicNanos();
  ex->request = std::move(request);
  ex->respond = std::move(respond);
  for (size_t i = 0; i < stages_.size(); ++i) {
    ex->stages_passed = i;
    switch (stages_[i]->OnRequest(ex, *this)) {
      case Verdict::kNext:
        continue;
      case Verdict::kAnswered:
        return Answer(std::move(ex));
      case Verdict::kDeferred:
        return;
    }
  }
  // The last stage forwards or answers; passing on from it is a wiring mistake.
  ex->stages_passed = stages_.size();
  ex->response = ProblemAnswer("internal", "no stage answered " + ex->request.path, ex->v2);
  Answer(std::move(ex));
}

void Pipeline::Answer(ExchangePtr ex) {
  for (size_t j = ex->stages_passed; j-- > 0;) stages_[j]->OnAnswer(*ex);
  auto respond = std::move(ex->respond);
  respond(std::move(ex->response));
}

}  // namespace modelfn::gateway
