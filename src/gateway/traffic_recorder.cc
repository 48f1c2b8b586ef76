#include "gateway/traffic_recorder.h"

namespace modelfn::gateway {

TrafficRecorder::TrafficRecorder(const std::vector<std::string>& functions, size_t capacity)
    : capacity_(capacity < 1 ? 1 : capacity) {
  for (const auto& f : functions) rings_[f] = std::make_unique<Ring>();
}

void TrafficRecorder::Record(const std::string& function, double wall_seconds) {
  auto it = rings_.find(function);
  if (it == rings_.end()) return;
  Ring& r = *it->second;
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.full) {
    r.at.push_back(wall_seconds);
    if (r.at.size() == capacity_) r.full = true;
    return;
  }
  r.at[r.next] = wall_seconds;
  r.next = (r.next + 1) % capacity_;
}

std::vector<double> TrafficRecorder::Snapshot(const std::string& function) const {
  auto it = rings_.find(function);
  if (it == rings_.end()) return {};
  const Ring& r = *it->second;
  std::lock_guard<std::mutex> lock(r.mu);
  if (!r.full) return r.at;
  std::vector<double> out(r.at.begin() + static_cast<std::ptrdiff_t>(r.next), r.at.end());
  out.insert(out.end(), r.at.begin(), r.at.begin() + static_cast<std::ptrdiff_t>(r.next));
  return out;
}

}  // namespace modelfn::gateway
