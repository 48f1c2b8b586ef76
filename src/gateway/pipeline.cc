#include "gateway/pipeline.h"

#include "gateway/answers.h"

namespace modelfn::gateway {

Pipeline::Pipeline(StageList stages, const Clock* clock)
    : current_(std::make_shared<const StageList>(std::move(stages))), clock_(clock) {}

std::shared_ptr<const StageList> Pipeline::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

void Pipeline::Replace(StageList stages) {
  auto next = std::make_shared<const StageList>(std::move(stages));
  std::lock_guard<std::mutex> lock(mu_);
  current_.swap(next);
}

bool Pipeline::CheckHead(HttpRequest* head, HttpResponse* early) {
  std::shared_ptr<const StageList> stages = Current();
  const StageList& s = *stages;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i]->OnHead(head, early)) continue;
    for (size_t j = i; j-- > 0;) s[j]->OnEarlyAnswer(*head, early);
    return false;
  }
  return true;
}

void Pipeline::DecorateError(const HttpRequest& head, HttpResponse* error) const {
  std::shared_ptr<const StageList> stages = Current();
  for (size_t j = stages->size(); j-- > 0;) (*stages)[j]->OnEarlyAnswer(head, error);
}

void Pipeline::Handle(HttpRequest request, std::function<void(HttpResponse)> respond,
                      std::shared_ptr<const std::atomic<bool>> client_gone) {
  auto ex = std::make_unique<Exchange>();
  ex->arrived_ns = clock_->MonotonicNanos();
  ex->request = std::move(request);
  ex->respond = std::move(respond);
  ex->client_gone = std::move(client_gone);
  // Held here too: a deferred exchange may be answered, and dropped, before OnRequest returns.
  std::shared_ptr<const StageList> stages = Current();
  ex->stages = stages;
  const StageList& s = *stages;
  for (size_t i = 0; i < s.size(); ++i) {
    ex->stages_passed = i;
    switch (s[i]->OnRequest(ex, *this)) {
      case Verdict::kNext:
        continue;
      case Verdict::kAnswered:
        return Answer(std::move(ex));
      case Verdict::kDeferred:
        return;
    }
  }
  // The last stage forwards or answers; passing on from it is a wiring mistake.
  ex->stages_passed = s.size();
  ex->response = ProblemAnswer("internal", "no stage answered " + ex->request.path, ex->v2);
  Answer(std::move(ex));
}

void Pipeline::Answer(ExchangePtr ex) {
  const StageList& s = *ex->stages;
  for (size_t j = ex->stages_passed; j-- > 0;) s[j]->OnAnswer(*ex);
  auto respond = std::move(ex->respond);
  respond(std::move(ex->response));
}

}  // namespace modelfn::gateway
