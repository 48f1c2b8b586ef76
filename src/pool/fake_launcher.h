// In-memory instances for tests of the pool: nothing runs, the test decides what each instance
// does (become ready, fail init, answer, refuse a connection, crash, hang) and when.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "pool/instance.h"

namespace modelfn {

class FakeInstance final : public Instance {
 public:
  FakeInstance(const LaunchRequest& request, InstanceEvents events)
      : request_(request), events_(std::move(events)) {}

  // Instance. Send only records the request: answers come from the test.
  void Send(uint64_t id, std::shared_ptr<const ForwardRequest> request,
            InstanceResultFn done) override;
  void Stop() override;
  void Kill() override;
  std::optional<Scheduler::Exit> PollExit() override;
  std::vector<uint64_t> TakeUnreached() override;
  pid_t pid() const override { return static_cast<pid_t>(10'000 + request_.id); }
  void Close() override;

  // What the test makes it do. Each callback runs on the calling thread, without locks held.
  void MakeReady();                       // init done
  void FailInit(const std::string& why);  // reports the error and exits
  // Answers request `id` with `status` and `body`; false when it holds no such request.
  bool Answer(uint64_t id, int status = 200, const std::string& body = "{}");
  // Answers every request it holds; returns how many.
  int AnswerAll(int status = 200);
  // Fails every request it holds as never delivered (connection refused), then exits.
  void RefuseConnections();
  // Exits. `took_requests`: whether the requests it holds had reached the function (false: they
  // are handed back through TakeUnreached, as a lambda-mode instance's not yet taken ones are).
  void Crash(bool took_requests = true, Scheduler::Exit how = Scheduler::Exit::kExited);
  // An instance asked to stop stays up when this is set (it then needs a kill).
  void IgnoreStop() { ignore_stop_ = true; }

  const LaunchRequest& launch() const { return request_; }
  std::vector<uint64_t> held() const;  // ids of requests it holds
  std::shared_ptr<const ForwardRequest> request(uint64_t id) const;
  bool stopped() const;
  bool killed() const;
  bool closed() const;
  bool exited() const;

 private:
  struct Held {
    std::shared_ptr<const ForwardRequest> request;
    InstanceResultFn done;
  };
  const LaunchRequest request_;
  const InstanceEvents events_;
  mutable std::mutex mu_;
  std::map<uint64_t, Held> held_;
  std::vector<uint64_t> unreached_;
  std::optional<Scheduler::Exit> exit_;
  bool ignore_stop_ = false, stopped_ = false, killed_ = false, closed_ = false;
};

class FakeLauncher final : public InstanceLauncher {
 public:
  StatusOr<std::shared_ptr<Instance>> Launch(const LaunchRequest& request,
                                             InstanceEvents events) override;
  // The next launches fail with Unavailable(`why`) while set ("" to stop).
  void FailLaunches(const std::string& why);

  std::vector<std::shared_ptr<FakeInstance>> launched() const;
  std::shared_ptr<FakeInstance> at(size_t i) const { return launched().at(i); }
  size_t count() const { return launched().size(); }

 private:
  mutable std::mutex mu_;
  std::string fail_;
  std::vector<std::shared_ptr<FakeInstance>> launched_;
};

}  // namespace modelfn
