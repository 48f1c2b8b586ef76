// Reaping what this process did not start. As a child subreaper (template_client.h) the platform
// inherits every orphaned descendant: the forked instances (which the pool reaps as its own) but
// also what an instance or a dying template leaves behind. Those must be reaped too, without
// stealing the exit of a child an owner waits for: owners register the pids they reap themselves.
#pragma once

#include <sys/types.h>

namespace modelfn {

// Marks `pid` as reaped by its owner (an instance, a template). Thread-safe.
void RegisterChild(pid_t pid);
// Drops the mark (once the owner has reaped it). Thread-safe.
void ForgetChild(pid_t pid);
// Reaps exited children that nobody registered, without blocking. Stops at the first exited
// child that is registered (its owner reaps it; the rest wait for the next call). Returns how
// many were reaped. Call from one thread at a time (the platform's timer thread).
int ReapOrphans();

}  // namespace modelfn
