#include "http/responder.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace modelfn {

namespace {
// The loop the calling thread runs, if any, and whether it posted to that loop.
thread_local const HttpResponder::Shared* tl_shared = nullptr;
thread_local int tl_loop = -1;
thread_local bool tl_posted = false;
}  // namespace

void HttpResponder::operator()(HttpResponse response) const {
  if (shared_) shared_->Post(loop_, conn_id_, std::move(response));
}

HttpResponder::Shared::Shared(int loops) : mailboxes_(static_cast<size_t>(loops)) {
  for (int i = 0; i < loops; ++i) wake_fds_.push_back(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
}

HttpResponder::Shared::~Shared() { Close(); }

void HttpResponder::Shared::Close() {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  closed_ = true;
  for (int fd : wake_fds_) close(fd);
}

void HttpResponder::Shared::Post(int loop, uint64_t token, HttpResponse response) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  auto& box = mailboxes_[static_cast<size_t>(loop)];
  box.emplace_back(token, std::move(response));
  if (tl_shared == this && tl_loop == loop) {
    tl_posted = true;  // the loop takes it after the batch of events it is in
    return;
  }
  if (box.size() > 1) return;  // not empty before: a wake (or the loop's own take) is pending
  uint64_t one = 1;
  ssize_t ignored = write(wake_fds_[static_cast<size_t>(loop)], &one, sizeof one);
  (void)ignored;
}

void HttpResponder::Shared::EnterLoop(int loop) {
  tl_shared = this;
  tl_loop = loop;
  tl_posted = false;
}

void HttpResponder::Shared::LeaveLoop() {
  tl_shared = nullptr;
  tl_loop = -1;
  tl_posted = false;
}

bool HttpResponder::Shared::TakeOwnPosts() {
  bool posted = tl_posted;
  tl_posted = false;
  return posted;
}

void HttpResponder::Shared::Take(int loop, std::vector<std::pair<uint64_t, HttpResponse>>* out) {
  out->clear();
  std::lock_guard<std::mutex> lock(mu_);
  out->swap(mailboxes_[static_cast<size_t>(loop)]);
}

void HttpResponder::Shared::Wake(int loop) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_) return;
  uint64_t one = 1;
  ssize_t ignored = write(wake_fds_[static_cast<size_t>(loop)], &one, sizeof one);
  (void)ignored;
}

void HttpResponder::Shared::WakeAll() {
  for (size_t i = 0; i < wake_fds_.size(); ++i) Wake(static_cast<int>(i));
}

void HttpResponder::Shared::ClearWake(int fd) {
  uint64_t v;
  ssize_t ignored = read(fd, &v, sizeof v);
  (void)ignored;
}

}  // namespace modelfn
