// Answers of asynchronous handlers, carried across threads to the event loop that owns the
// connection: one mailbox and one wakeup descriptor (eventfd) per loop.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "http/response_writer.h"

namespace modelfn {

// Completes one request of an asynchronous handler. Call it once, from any thread (later calls
// are ignored); the connection's event loop writes the response. If the client has gone away, or
// the server was destroyed, the response is dropped. Copyable; cheap.
class HttpResponder {
 public:
  struct Shared;  // the server's mailboxes; outlives the server while responders hold it
  HttpResponder() = default;
  // `gone`, when given, is set by the connection's loop once the client has closed its end (it
  // sent FIN, or the connection broke) while this request was held.
  HttpResponder(std::shared_ptr<Shared> shared, int loop, uint64_t conn_id,
                std::shared_ptr<const std::atomic<bool>> gone = nullptr)
      : shared_(std::move(shared)), loop_(loop), conn_id_(conn_id), gone_(std::move(gone)) {}

  void operator()(HttpResponse response) const;
  explicit operator bool() const { return shared_ != nullptr; }

  // True once the client closed its end while the request was held: a handler that has not
  // started the work may drop it. An answer is still written if the connection can take it (a
  // client that only half-closed reads it). Thread-safe.
  bool ClientGone() const { return gone_ != nullptr && gone_->load(std::memory_order_relaxed); }
  // The flag itself, for code that outlives this object's scope (e.g. a queue).
  std::shared_ptr<const std::atomic<bool>> gone_flag() const { return gone_; }

 private:
  std::shared_ptr<Shared> shared_;
  int loop_ = 0;
  uint64_t conn_id_ = 0;
  std::shared_ptr<const std::atomic<bool>> gone_;
};

// The mailboxes of a server with `loops` event loops. Every method is thread-safe.
struct HttpResponder::Shared {
  // Makes one mailbox and one non-blocking eventfd per loop.
  explicit Shared(int loops);
  // Closes the eventfds; from then on Post drops what it is given and Wake does nothing.
  ~Shared();

  // Queues (token, response) for `loop` and wakes it. Dropped once Close() ran. Wakes only when
  // the mailbox was empty (a wake is pending otherwise) and the caller is not `loop`'s own thread
  // inside its Run (which takes its mail after each batch of events: TakeOwnPosts).
  void Post(int loop, uint64_t token, HttpResponse response);
  // Marks the calling thread as running `loop` (until LeaveLoop), so that its own posts skip the
  // wakeup descriptor.
  void EnterLoop(int loop);
  void LeaveLoop();
  // On a loop's thread: true once if it posted to its own loop since the last call. The loop then
  // Takes its mailbox (posts from other threads that found it non-empty did not wake it either).
  static bool TakeOwnPosts();
  // Moves what is queued for `loop` into *out (cleared first).
  void Take(int loop, std::vector<std::pair<uint64_t, HttpResponse>>* out);
  // Makes wake_fd(loop) readable.
  void Wake(int loop);
  // Makes every loop's wake_fd readable (unless closed).
  void WakeAll();
  // The descriptor a loop watches for EPOLLIN; the loop reads it (ClearWake) when it fires.
  int wake_fd(int loop) const { return wake_fds_[static_cast<size_t>(loop)]; }
  static void ClearWake(int fd);
  // The server is gone: later posts are dropped, the eventfds closed. Idempotent.
  void Close();

 private:
  std::mutex mu_;
  bool closed_ = false;
  std::vector<std::vector<std::pair<uint64_t, HttpResponse>>> mailboxes_;
  std::vector<int> wake_fds_;
};

}  // namespace modelfn
