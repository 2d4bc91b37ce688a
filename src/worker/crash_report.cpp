#include "worker/crash_report.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <mutex>

namespace rankpool::detail {
namespace {

constexpr int fatal_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr std::size_t signal_count = std::size(fatal_signals);

// Everything the signal handler reads. It lives in static storage, is
// written before a call starts, and is only read by the handler, which may
// use nothing but async-signal-safe operations: no allocation, no locks,
// no stdio, just these bytes and write(2).
struct report_state {
  char prefix[512] = {};  // "rankpool: worker rank 2 on host X died of signal "
  std::atomic<std::size_t> prefix_length{0};
  char name[256] = {};  // the running call's name, truncated if longer
  std::atomic<std::size_t> name_length{0};
  std::atomic<std::uint64_t> id{0};
  std::atomic<bool> in_call{false};
  std::atomic<bool> active{false};  // a crash_reporter lives
  // The dispositions we replaced, to pass each signal on to.
  struct sigaction previous[signal_count] = {};
};

report_state report;
std::mutex install_mutex;  // guards `installed` and the handler swap
int installed = 0;         // live reporters (one per worker loop in this process)

std::size_t index_of(int sig) {
  for (std::size_t i = 0; i < signal_count; ++i) {
    if (fatal_signals[i] == sig) return i;
  }
  return 0;
}

const char* signal_name(int sig) {
  switch (sig) {
    case SIGSEGV:
      return "SIGSEGV";
    case SIGBUS:
      return "SIGBUS";
    case SIGFPE:
      return "SIGFPE";
    case SIGILL:
      return "SIGILL";
    case SIGABRT:
      return "SIGABRT";
    default:
      return "?";
  }
}

// A line built on the (alternate) stack, so it reaches stderr in one
// write(2) and does not interleave with other ranks' output.
class line_writer {
 public:
  void add(const char* text, std::size_t length) {
    const std::size_t n = std::min(length, sizeof line_ - size_);
    std::memcpy(line_ + size_, text, n);
    size_ += n;
  }
  void add(const char* text) { add(text, std::strlen(text)); }
  void add_number(std::uint64_t value) {
    char digits[20];
    std::size_t n = 0;
    do {
      digits[n++] = static_cast<char>('0' + value % 10);
      value /= 10;
    } while (value != 0);
    while (n > 0) add(&digits[--n], 1);
  }
  void write_to(int fd) const {
    std::size_t done = 0;
    while (done < size_) {
      const ssize_t n = ::write(fd, line_ + done, size_ - done);
      if (n > 0) {
        done += static_cast<std::size_t>(n);
      } else if (n < 0 && errno != EINTR) {
        return;  // nothing better to do with a broken stderr while dying
      }
    }
  }

 private:
  char line_[1024];
  std::size_t size_ = 0;
};

void write_report(int sig) {
  line_writer out;
  out.add(report.prefix, report.prefix_length.load(std::memory_order_relaxed));
  out.add(signal_name(sig));
  if (!report.in_call.load(std::memory_order_acquire)) {
    out.add(" outside any call\n");
  } else {
    const std::uint64_t id = report.id.load(std::memory_order_relaxed);
    out.add(id == 0 ? " while running the initializer '" : " while running '");
    out.add(report.name, report.name_length.load(std::memory_order_relaxed));
    out.add("'");
    if (id != 0) {
      out.add(" (call ");
      out.add_number(id);
      out.add(")");
    }
    out.add("\n");
  }
  out.write_to(STDERR_FILENO);
}

bool is_function(const struct sigaction& action) {
  return action.sa_handler != SIG_DFL && action.sa_handler != SIG_IGN;
}

// Hands the signal to the disposition we replaced, as the kernel would have
// delivered it: the previous handler is called with the same siginfo (so
// Open MPI's backtrace still shows the faulting address), a one-shot one is
// reset first, and the default action happens by raising the signal again,
// which stays blocked until this handler returns.
void pass_on(int sig, siginfo_t* info, void* context) {
  const struct sigaction& previous = report.previous[index_of(sig)];
  struct sigaction next = previous;
  if (is_function(previous) && (previous.sa_flags & SA_RESETHAND)) {
    next = {};
    next.sa_handler = SIG_DFL;
  }
  sigaction(sig, &next, nullptr);
  if (!is_function(previous)) {
    // SIG_IGN: returning re-runs a faulting instruction, which the kernel
    // then kills with the default action, exactly as without us.
    if (previous.sa_handler == SIG_DFL) raise(sig);
    return;
  }
  if (previous.sa_flags & SA_SIGINFO) {
    previous.sa_sigaction(sig, info, context);
  } else {
    previous.sa_handler(sig);
  }
}

// A second entry means a handler we chain to chains back to us (it was
// installed over ours and ours was installed again later) or another
// thread faulted meanwhile: end with the default action, no loop. (The
// flag stays set: after one fatal signal the process is expected to die.)
void die_by_default(int sig) {
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  sigaction(sig, &default_action, nullptr);
  raise(sig);  // delivered when the handler returns
}

extern "C" void on_fatal_signal(int sig, siginfo_t* info, void* context) {
  static std::atomic<bool> entered{false};
  if (entered.exchange(true)) return die_by_default(sig);
  const int saved_errno = errno;
  if (report.active.load(std::memory_order_acquire)) write_report(sig);
  errno = saved_errno;
  pass_on(sig, info, context);
}

bool is_ours(const struct sigaction& action) {
  return (action.sa_flags & SA_SIGINFO) && action.sa_sigaction == &on_fatal_signal;
}

void install_handlers() {
  struct sigaction ours = {};
  ours.sa_sigaction = &on_fatal_signal;
  // SA_RESETHAND: a fault inside the handler itself ends the process
  // instead of recursing. SA_ONSTACK: a stack overflow is reported too.
  ours.sa_flags = SA_SIGINFO | SA_RESETHAND | SA_ONSTACK;
  sigemptyset(&ours.sa_mask);
  for (std::size_t i = 0; i < signal_count; ++i) {
    sigaction(fatal_signals[i], &ours, &report.previous[i]);
  }
}

// Puts back what we replaced, unless someone installed a handler on top of
// ours since: theirs may chain to ours, which then only passes signals on.
void restore_handlers() {
  for (std::size_t i = 0; i < signal_count; ++i) {
    struct sigaction current = {};
    sigaction(fatal_signals[i], nullptr, &current);
    if (is_ours(current)) sigaction(fatal_signals[i], &report.previous[i], nullptr);
  }
}

std::size_t alt_stack_size() {
  const long wanted = std::max<long>(SIGSTKSZ, 64 * 1024);
  return static_cast<std::size_t>(wanted);
}

}  // namespace

crash_reporter::crash_reporter(int rank, int world_rank, const std::string& host) {
  std::lock_guard<std::mutex> lock(install_mutex);
  char world[64] = "";
  if (world_rank != rank)
    std::snprintf(world, sizeof world, " (MPI_COMM_WORLD rank %d)", world_rank);
  const int n = std::snprintf(report.prefix, sizeof report.prefix,
                              "rankpool: worker rank %d%s on host %s died of signal ", rank, world,
                              host.c_str());
  report.prefix_length =
      std::min(static_cast<std::size_t>(std::max(n, 0)), sizeof report.prefix - 1);
  stack_t current = {};
  if (sigaltstack(nullptr, &current) == 0 && (current.ss_flags & SS_DISABLE)) {
    alt_stack_ = std::make_unique<char[]>(alt_stack_size());
    stack_t ours = {};
    ours.ss_sp = alt_stack_.get();
    ours.ss_size = alt_stack_size();
    if (sigaltstack(&ours, &previous_stack_) != 0) alt_stack_.reset();
  }
  if (installed++ == 0) install_handlers();
  report.active.store(true, std::memory_order_release);
}

crash_reporter::~crash_reporter() {
  std::lock_guard<std::mutex> lock(install_mutex);
  call_finished();
  if (--installed == 0) {
    report.active.store(false, std::memory_order_release);
    restore_handlers();
  }
  if (alt_stack_) sigaltstack(&previous_stack_, nullptr);
}

void crash_reporter::call_started(std::string_view name, std::uint64_t id) noexcept {
  const std::size_t n = std::min(name.size(), sizeof report.name);
  std::memcpy(report.name, name.data(), n);
  report.name_length.store(n, std::memory_order_relaxed);
  report.id.store(id, std::memory_order_relaxed);
  report.in_call.store(true, std::memory_order_release);
}

void crash_reporter::call_finished() noexcept {
  report.in_call.store(false, std::memory_order_release);
}

}  // namespace rankpool::detail
