// The call process: see call_process.hpp. Two processes share one control
// page and one growable arena (a memfd both map). The owner writes a call
// item into the arena and bumps `request`; the call process runs it, writes
// the result item (and a large result's bytes) into the arena and bumps
// `answer`. Each side spins briefly, then sleeps: the call process on a futex
// on `request` (no CPU while idle), the owner in poll() on a pipe whose only
// writer is the call process, so that its death (the pipe closing) wakes
// the owner at once. The owner wakes every few milliseconds meanwhile to
// enforce the time limit and take terminate requests.
#include "isolation/call_process.hpp"
#include "sys/futex.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <new>
#include <sstream>
#include <system_error>
#include <thread>

namespace rankpool::detail {

// Both processes' view of one exchange. Plain fields are written before the
// counter they belong to is bumped, and read after it is seen.
struct call_process::control {
  std::atomic<std::uint32_t> request{0};       // bumped by the owner; a futex word
  std::atomic<std::uint32_t> answer{0};        // bumped by the call process
  std::atomic<std::uint32_t> child_asleep{0};  // the call process waits in the futex
  std::atomic<std::uint32_t> owner_asleep{0};  // the owner waits in poll()
  std::atomic<std::uint64_t> arena_size{0};    // the memfd's size; only grows
  std::uint32_t request_kind = 0;
  std::uint64_t request_bytes = 0;
  std::uint64_t request_memory = 0;
  std::uint32_t answer_kind = 0;
  std::uint64_t answer_bytes = 0;
  std::uint64_t answer_block = 0;
};

namespace {

using clock = std::chrono::steady_clock;

// request_kind
constexpr std::uint32_t run_request = 1;    // run the call item in the arena
constexpr std::uint32_t block_request = 2;  // the block asked for is in the arena
// answer_kind
constexpr std::uint32_t ready_answer = 0;  // the call process is serving
constexpr std::uint32_t block_answer = 1;  // it needs the next argument block
constexpr std::uint32_t done_answer = 2;   // the result item (and block) are in the arena

// While a call runs, the owner looks at the clock, its process and its
// terminate requests this often.
constexpr auto watch_interval = std::chrono::milliseconds(5);
// A call stopped for its time limit or terminate() gets SIGTERM, then this
// long to exit before SIGKILL.
constexpr auto stop_grace = std::chrono::seconds(1);
// Spins before sleeping: the owner waiting for a short call's result, the
// call process for the next call of a busy worker.
constexpr auto owner_spin = std::chrono::microseconds(50);
constexpr auto child_spin = std::chrono::microseconds(200);

// Not process-private: the words live in memory shared by two processes.
void futex_wait(std::atomic<std::uint32_t>& word, std::uint32_t expected) {
  futex::wait(word, expected, futex::scope::shared);
}

void futex_wake(std::atomic<std::uint32_t>& word) {
  futex::wake(word, futex::scope::shared, 1);
}

bool one_core_only() {
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  return sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < 2;
}

// Spins until `word` differs from `seen` or `spin` has passed; true if it
// did. The other process may share the core (a worker bound to one core
// with mpirun --bind-to core: its call process inherits the binding), so
// the spin yields, at every turn on one core: the other process then runs
// at once, and its answer needs no wake-up through the kernel.
bool spin_until_changed(const std::atomic<std::uint32_t>& word, std::uint32_t seen,
                        clock::duration spin) {
  static const unsigned turns_per_yield = one_core_only() ? 1 : 16;
  const auto until = clock::now() + spin;
  for (unsigned turn = 1;; ++turn) {
    if (word.load(std::memory_order_acquire) != seen) return true;
    if (turn % turns_per_yield == 0) {
      if (clock::now() >= until) return false;
      std::this_thread::yield();
    }
  }
}

std::size_t page_round(std::size_t bytes) {
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return (bytes + page - 1) / page * page;
}

std::string signal_name(int sig) {
  if (const char* abbrev = sigabbrev_np(sig)) return std::string("SIG") + abbrev;
  return "signal " + std::to_string(sig);
}

std::string describe_seconds(std::chrono::microseconds t) {
  std::ostringstream out;
  out << static_cast<double>(t.count()) / 1e6 << " s";
  return out.str();
}

// The process's address space now, in bytes (first field of /proc/self/statm).
std::size_t address_space() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0;
  statm >> pages;
  return pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Sets (limit > 0) or lifts the call process's memory limit. The hard limit
// stays as it was, so a later call may raise the soft one again.
void limit_memory(std::size_t limit) {
  rlimit r{};
  if (getrlimit(RLIMIT_AS, &r) != 0) return;
  if (limit == 0) {
    r.rlim_cur = r.rlim_max;
  } else {
    const std::size_t now = address_space();
    const std::size_t want = limit > SIZE_MAX - now ? SIZE_MAX : now + limit;
    r.rlim_cur = r.rlim_max == RLIM_INFINITY ? want : std::min<rlim_t>(want, r.rlim_max);
  }
  setrlimit(RLIMIT_AS, &r);
}

// The call process starts with the signals' default actions: a crash must
// kill it (not run the worker's crash reporter or Open MPI's handlers), and
// SIGTERM must end it.
void default_signals() {
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTERM, SIGINT, SIGPIPE, SIGCHLD,
                  SIGUSR1, SIGUSR2, SIGHUP}) {
    std::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
}

}  // namespace

run_limits pool_limits(const options& opts) {
  return {std::chrono::microseconds(wire::limit_us(opts.call_timeout)), opts.call_memory_limit};
}

run_limits limits_for(const wire::call_item& item, const run_limits& pool) {
  if (!(item.flags & wire::limits_flag)) return pool;
  return {std::chrono::microseconds(item.limits.timeout_us),
          static_cast<std::size_t>(item.limits.memory_bytes)};
}

call_process::call_process(call_site site, bool blocks) : site_(std::move(site)), blocks_(blocks) {
  void* page =
      mmap(nullptr, sizeof(control), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) throw std::system_error(errno, std::generic_category(), "rankpool: mmap");
  control_ = ::new (page) control();  // lives in the shared page; unmapped by the destructor
  arena_fd_ = memfd_create("rankpool-call-arena", MFD_CLOEXEC);
  if (arena_fd_ < 0) {
    munmap(page, sizeof(control));
    throw std::system_error(errno, std::generic_category(), "rankpool: memfd_create");
  }
  reserve(std::size_t{1} << 20);
}

call_process::~call_process() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    reap(true);
  }
  if (arena_ != nullptr) munmap(arena_, mapped_);
  if (arena_fd_ >= 0) close(arena_fd_);
  if (control_ != nullptr) {
    control_->~control();
    munmap(control_, sizeof(control));
  }
}

// Makes the arena hold at least `bytes` (either process may grow it) and
// maps all of it here.
void call_process::reserve(std::size_t bytes) {
  const std::size_t size = control_->arena_size.load();
  if (bytes > size) {
    const std::size_t want = page_round(std::max(bytes, size + size / 2));
    if (ftruncate(arena_fd_, static_cast<off_t>(want)) != 0) throw std::bad_alloc();
    control_->arena_size.store(want);
  }
  map_arena();
}

// The other process may have grown the arena: map it whole again.
void call_process::map_arena() {
  const std::size_t size = control_->arena_size.load();
  if (size <= mapped_) return;
  if (arena_ != nullptr) munmap(arena_, mapped_);
  arena_ = nullptr;
  mapped_ = 0;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, arena_fd_, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  arena_ = static_cast<char*>(p);
  mapped_ = size;
}

void call_process::start() {
  if (pid_ > 0) return;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(), "rankpool: pipe2");
  }
  const auto began = clock::now();
  // Output buffered in this process would otherwise be written twice.
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
  control_->child_asleep.store(0);
  control_->owner_asleep.store(0);
  answers_seen_ = control_->answer.load();
  const pid_t owner = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(fds[0]);
    close(fds[1]);
    throw std::system_error(error, std::generic_category(), "rankpool: fork of a call process");
  }
  if (pid == 0) {
    close(fds[0]);
    wake_child_fd_ = fds[1];
    // Dies with its owner: a worker rank that ends leaves no call process.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != owner) _exit(70);
    child_main();
  }
  close(fds[1]);
  wake_fd_ = fds[0];
  pid_ = pid;
  // Its first answer says it is serving.
  for (;;) {
    const auto r = wait_answer(clock::now() + std::chrono::seconds(1));
    if (r == wait_result::answered) break;
    if (r == wait_result::died || reap(false) >= 0) {
      reap(true);
      throw std::runtime_error("rankpool: a new call process died before serving any call");
    }
  }
  last_start_ = clock::now() - began;
}

void call_process::request(std::uint32_t kind, std::size_t bytes, std::size_t memory) {
  control_->request_kind = kind;
  control_->request_bytes = bytes;
  control_->request_memory = memory;
  control_->request.fetch_add(1);  // seq_cst, against child_asleep's store and load
  if (control_->child_asleep.load() != 0) futex_wake(control_->request);
}

// Waits for the call process's next answer until `until`: spinning at
// first, then in poll() on the pipe it writes to when we sleep, and which
// closes when it dies.
call_process::wait_result call_process::wait_answer(clock::time_point until) {
  if (spin_until_changed(control_->answer, answers_seen_, owner_spin)) {
    ++answers_seen_;
    return wait_result::answered;
  }
  for (;;) {
    control_->owner_asleep.store(1);
    const bool answered = control_->answer.load() != answers_seen_;
    bool closed = false;
    if (!answered) {
      const auto left = std::max(until - clock::now(), clock::duration::zero());
      const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
      const timespec timeout{static_cast<time_t>(ns / 1000000000),
                             static_cast<long>(ns % 1000000000)};
      pollfd fd{wake_fd_, POLLIN, 0};
      ppoll(&fd, 1, &timeout, nullptr);
      char drain[64];
      for (;;) {
        const ssize_t n = read(wake_fd_, drain, sizeof drain);
        if (n > 0) continue;
        closed = n == 0;  // every writer has gone: the call process died
        break;
      }
    }
    control_->owner_asleep.store(0);
    if (control_->answer.load() != answers_seen_) {
      ++answers_seen_;
      return wait_result::answered;
    }
    if (closed) return wait_result::died;
    if (clock::now() >= until) return wait_result::waiting;
  }
}

// The call process's wait status once it has ended (reaping it), or -1 if it
// still runs (only without `wait`).
int call_process::reap(bool wait) {
  if (pid_ <= 0) return 0;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, wait ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == 0) return -1;
  if (r < 0) status = 0;  // reaped by someone else (SIGCHLD ignored): its status is lost
  pid_ = -1;
  close(wake_fd_);
  wake_fd_ = -1;
  answers_seen_ = control_->answer.load();
  return status;
}

// SIGTERM (or SIGKILL), then SIGKILL after the grace period; reaps it.
void call_process::stop(int first_signal) {
  kill(pid_, first_signal);
  const auto until = clock::now() + stop_grace;
  while (first_signal != SIGKILL && clock::now() < until) {
    if (reap(false) >= 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(pid_, SIGKILL);
  reap(true);
}

void call_process::fail(const wire::call_item& item, std::string_view type, std::string message,
                        std::string& reply, int signal, int exit_code, bool died) {
  wire::error_info error{std::string(type), std::move(message), site_.host, site_.rank};
  error.died = died;
  error.signal = signal;
  error.exit_code = exit_code;
  wire::append_error(reply, item.id, error);
}

void call_process::run(const wire::call_item& item, const run_limits& limits, call_owner& owner,
                       std::string& reply) {
  result_block_ = {};
  start();
  reserve(item.raw.size());
  std::memcpy(arena_, item.raw.data(), item.raw.size());
  const std::string where = (blocks_ ? "worker rank " : "a local worker thread of rank ") +
                            std::to_string(site_.rank) + " (host " + site_.host + ")";
  const std::string call = "rankpool: call '" + std::string(item.name) + "'";
  // A map() chunk may take its calls' time limits together.
  const auto allowed = limits.timeout * static_cast<std::int64_t>(item.count);
  const auto deadline =
      limits.timeout.count() > 0 ? clock::now() + allowed : clock::time_point::max();
  request(run_request, item.raw.size(), limits.memory);
  for (;;) {
    const auto slice_end = std::min(deadline, clock::now() + watch_interval);
    auto r = wait_answer(slice_end);
    if (r == wait_result::answered) {
      if (control_->answer_kind == block_answer) {
        const auto bytes = static_cast<std::size_t>(control_->answer_bytes);
        reserve(bytes);
        owner.receive_block(arena_, bytes);
        request(block_request, bytes, 0);
        continue;
      }
      map_arena();
      const auto bytes = static_cast<std::size_t>(control_->answer_bytes);
      reply.append(arena_, bytes);
      result_block_ =
          std::string_view(arena_ + bytes, static_cast<std::size_t>(control_->answer_block));
      return;
    }
    int status = -1;
    if (r == wait_result::died) {
      status = reap(true);
    } else {
      status = reap(false);  // its pipe may stay open in a process it forked
    }
    if (status >= 0) {
      const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
      std::string why = sig != 0 ? call + " died of " + signal_name(sig) + " on " + where
                                 : call + " exited with code " + std::to_string(code) +
                                       " before returning a result on " + where;
      if (sig == SIGKILL) {
        why += limits.memory > 0
                   ? "; the likely cause is its memory limit of " + std::to_string(limits.memory) +
                         " bytes (the kernel kills "
                         "a process that runs out of memory with SIGKILL)"
                   : "; SIGKILL was not sent by rankpool: the kernel's "
                     "out-of-memory killer is a likely cause";
      }
      fail(item, wire::crashed_type, std::move(why), reply, sig, code, true);
      start();
      return;
    }
    if (clock::now() >= deadline) {
      stop(SIGTERM);
      fail(item, wire::timed_out_type,
           call + " ran past its time limit of " + describe_seconds(allowed) + " on " + where +
               " and was stopped",
           reply, 0, 0, false);
      start();
      return;
    }
    if (owner.terminate_requested(item.id)) {
      stop(SIGTERM);
      fail(item, wire::terminated_type, call + " was terminated on " + where, reply, 0, 0, false);
      start();
      return;
    }
  }
}

namespace {

// In the call process: a call's argument blocks come from the owner through
// the arena, one request each.
class arena_blocks final : public call_blocks {
 public:
  using fetch = std::function<const char*(std::size_t)>;
  arena_blocks(bool arguments, fetch get) : arguments_(arguments), get_(std::move(get)) {}
  void receive(char* into, std::size_t bytes) override {
    if (!arguments_) {
      throw std::length_error("rankpool: an argument announces a block its call item does not");
    }
    std::memcpy(into, get_(bytes), bytes);
  }

 private:
  bool arguments_;
  fetch get_;
};

}  // namespace

void call_process::child_main() {
  default_signals();
  std::uint32_t seen = control_->request.load();
  const auto answer = [this](std::uint32_t kind, std::uint64_t bytes, std::uint64_t block) {
    control_->answer_kind = kind;
    control_->answer_bytes = bytes;
    control_->answer_block = block;
    control_->answer.fetch_add(1);
    if (control_->owner_asleep.load() != 0) {
      const char byte = 1;
      [[maybe_unused]] const auto n = write(wake_child_fd_, &byte, 1);
    }
  };
  const auto next_request = [this, &seen] {
    if (!spin_until_changed(control_->request, seen, child_spin)) {
      control_->child_asleep.store(1);
      while (control_->request.load() == seen) futex_wait(control_->request, seen);
      control_->child_asleep.store(0);
    }
    ++seen;
    map_arena();
  };
  answer(ready_answer, 0, 0);
  std::string item_bytes;
  std::string reply;
  for (;;) {
    next_request();
    if (control_->request_kind != run_request) continue;
    item_bytes.assign(arena_, static_cast<std::size_t>(control_->request_bytes));
    const std::size_t memory = static_cast<std::size_t>(control_->request_memory);
    reply.clear();
    const auto item = wire::reader(item_bytes).next_call();
    arena_blocks blocks((item.flags & wire::blocks_flag) != 0,
                        [&](std::size_t bytes) -> const char* {
                          answer(block_answer, bytes, 0);
                          next_request();
                          return arena_;
                        });
    if (memory > 0) limit_memory(memory);
    run_call(item, site_, reply, blocks_ ? &blocks : nullptr);
    if (memory > 0) limit_memory(0);
    // What the call printed appears now, not when this process ends (it
    // may be killed, or never end by itself).
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const auto& block = blocks.result;
    try {
      reserve(reply.size() + block.bytes);
    } catch (const std::bad_alloc&) {
      _exit(71);  // the owner reports a call process that exited without a result
    }
    std::memcpy(arena_, reply.data(), reply.size());
    if (block.bytes > 0) std::memcpy(arena_ + reply.size(), block.data, block.bytes);
    const std::uint64_t block_bytes = block.bytes;
    blocks.result = {};
    answer(done_answer, reply.size(), block_bytes);
  }
}

}  // namespace rankpool::detail
