// The farm's stop and drain flags: see farm_signals.hpp.
#include "farm_signals.hpp"

#include <chrono>
#include <optional>
#include <thread>

namespace rankpool::run {

std::atomic<bool> stop_requested{false};
std::atomic<bool> drain_requested{false};

void request_drain() noexcept {
  drain_requested = true;
}

void drain_watch(double grace_seconds, const std::atomic<bool>& done) {
  std::optional<std::chrono::steady_clock::time_point> since;
  while (!done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!drain_requested) continue;
    const auto now = std::chrono::steady_clock::now();
    if (!since) since = now;
    if (now - *since >= std::chrono::duration<double>(grace_seconds)) stop_requested = true;
  }
}

}  // namespace rankpool::run
