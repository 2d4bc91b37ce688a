// pool_stats::table(): the statistics as text, for stderr at shutdown
// (options::print_stats, RANKPOOL_STATS=1) or a user's log.
#include "rankpool/stats.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

namespace rankpool {
namespace {

template <class... A>
void append(std::string& out, const char* format, A... args) {
  char line[256];
  const int n = std::snprintf(line, sizeof line, format, args...);
  if (n > 0) out.append(line, static_cast<std::size_t>(std::min<int>(n, sizeof line - 1)));
}

double mib(std::uint64_t bytes) {
  return static_cast<double>(bytes) / (1024.0 * 1024.0);
}

}  // namespace

std::string pool_stats::table() const {
  std::string out;
  append(out,
         "calls: %llu submitted, %llu completed, %llu failed, %llu cancelled, %llu pending; "
         "queue wait mean %.3f ms, max %.3f ms\n",
         static_cast<unsigned long long>(submitted), static_cast<unsigned long long>(completed),
         static_cast<unsigned long long>(failed), static_cast<unsigned long long>(cancelled),
         static_cast<unsigned long long>(pending), queue_wait.mean * 1e3, queue_wait.max * 1e3);
  append(out, "%6s  %-20s %10s %8s %10s %10s %10s\n", "worker", "host", "calls", "failed", "busy s",
         "in MiB", "out MiB");
  for (const auto& w : workers) {
    append(out, "%6d  %-20.20s %10llu %8llu %10.3f %10.2f %10.2f\n", w.rank, w.host.c_str(),
           static_cast<unsigned long long>(w.calls), static_cast<unsigned long long>(w.failed),
           w.busy_seconds, mib(w.bytes_in), mib(w.bytes_out));
  }
  return out;
}

}  // namespace rankpool
