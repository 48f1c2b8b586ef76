// Accepting connections when the process may be out of file descriptors.
//
// A listener whose accept() fails with EMFILE stays readable, so an event loop that simply retries
// spins a core while the connection sits in the kernel queue. AcceptOrShed keeps one descriptor in
// reserve for the whole process: when accept() fails for want of descriptors, it gives the reserve
// up for a moment, accepts the oldest queued connection and closes it at once (the client sees the
// connection closed instead of waiting in the queue), then takes the reserve back. Open
// connections keep being served, and new ones are accepted again as soon as descriptors free up.
#pragma once

namespace modelfn {

enum class AcceptResult {
  kAccepted,          // *fd is the new connection, owned by the caller
  kNone,              // nothing queued (EAGAIN), or the listener was shut down
  kShed,              // out of descriptors: one queued connection was accepted and closed
  kOutOfDescriptors,  // out of descriptors and the reserve could not help: back off a while
};

// Takes the reserve descriptor now, while descriptors are plentiful (a listener calls it when it
// is created; AcceptOrShed also takes it on first use). Thread-safe, idempotent.
void ReserveDescriptorForAccept();

// accept4(listen_fd, flags) with the shedding above. Thread-safe. `flags` as for accept4
// (SOCK_NONBLOCK, SOCK_CLOEXEC).
AcceptResult AcceptOrShed(int listen_fd, int flags, int* fd);

// How long a caller backs off after kOutOfDescriptors before it tries the listener again.
inline constexpr int kAcceptBackoffMs = 100;

}  // namespace modelfn
