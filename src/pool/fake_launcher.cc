#include "pool/fake_launcher.h"

namespace modelfn {

void FakeInstance::Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
                        InstanceResultFn done) {
  std::lock_guard<std::mutex> lock(mu_);
  held_[id] = Held{std::move(request), std::move(done)};
}

void FakeInstance::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stopped_ = true;
  if (!ignore_stop_ && !exit_) exit_ = Scheduler::Exit::kExited;
}

void FakeInstance::Kill() {
  std::lock_guard<std::mutex> lock(mu_);
  killed_ = true;
  if (!exit_) exit_ = Scheduler::Exit::kExited;
}

std::optional<Scheduler::Exit> FakeInstance::PollExit() {
  std::lock_guard<std::mutex> lock(mu_);
  return exit_;
}

std::vector<uint64_t> FakeInstance::TakeUnreached() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::move(unreached_);
}

void FakeInstance::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  closed_ = true;
  held_.clear();
}

void FakeInstance::MakeReady() {
  if (events_.ready) events_.ready();
}

void FakeInstance::FailInit(const std::string& why) {
  if (events_.init_error) events_.init_error(why);
  std::lock_guard<std::mutex> lock(mu_);
  if (!exit_) exit_ = Scheduler::Exit::kExited;
}

bool FakeInstance::Answer(uint64_t id, int status, const std::string& body) {
  Held h;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = held_.find(id);
    if (it == held_.end()) return false;
    h = std::move(it->second);
    held_.erase(it);
  }
  InstanceResult r;
  r.reply.status = status;
  r.reply.body = body;
  h.done(std::move(r));
  return true;
}

int FakeInstance::AnswerAll(int status) {
  int n = 0;
  for (uint64_t id : held()) n += Answer(id, status) ? 1 : 0;
  return n;
}

void FakeInstance::RefuseConnections() {
  std::map<uint64_t, Held> refused;
  {
    std::lock_guard<std::mutex> lock(mu_);
    refused.swap(held_);
    if (!exit_) exit_ = Scheduler::Exit::kExited;
  }
  for (auto& [id, h] : refused) {
    InstanceResult r;
    r.kind = InstanceResult::kNotReached;
    r.code = "instance_crashed";
    r.detail = "connection refused";
    h.done(std::move(r));
  }
}

void FakeInstance::Crash(bool took_requests, Scheduler::Exit how) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!took_requests) {
    for (const auto& [id, h] : held_) unreached_.push_back(id);
  }
  held_.clear();  // a dead process answers nothing; the pool answers for it
  if (!exit_) exit_ = how;
}

std::vector<uint64_t> FakeInstance::held() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<uint64_t> ids;
  for (const auto& [id, h] : held_) ids.push_back(id);
  return ids;
}

std::shared_ptr<const ForwardRequest> FakeInstance::request(uint64_t id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = held_.find(id);
  return it == held_.end() ? nullptr : it->second.request;
}

bool FakeInstance::stopped() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stopped_;
}
bool FakeInstance::killed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return killed_;
}
bool FakeInstance::closed() const {
  std::lock_guard<std::mutex> lock(mu_);
  return closed_;
}
bool FakeInstance::exited() const {
  std::lock_guard<std::mutex> lock(mu_);
  return exit_.has_value();
}

StatusOr<std::shared_ptr<Instance>> FakeLauncher::Launch(const LaunchRequest& request,
                                                         InstanceEvents events) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!fail_.empty()) return UnavailableError(fail_);
  auto in = std::make_shared<FakeInstance>(request, std::move(events));
  launched_.push_back(in);
  return std::shared_ptr<Instance>(in);
}

void FakeLauncher::FailLaunches(const std::string& why) {
  std::lock_guard<std::mutex> lock(mu_);
  fail_ = why;
}

std::vector<std::shared_ptr<FakeInstance>> FakeLauncher::launched() const {
  std::lock_guard<std::mutex> lock(mu_);
  return launched_;
}

}  // namespace modelfn
