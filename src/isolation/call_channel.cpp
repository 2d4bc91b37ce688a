// The channel between an owner and its call process: see call_channel.hpp.
#include "isolation/call_channel.hpp"

#include "sys/futex.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <ctime>
#include <new>
#include <system_error>
#include <thread>

namespace rankpool::detail {

// Both processes' view of one exchange. Plain fields are written before the
// counter they belong to is bumped, and read after it is seen.
struct call_channel::control {
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

using clock = call_channel::clock;

// Spins before sleeping: the owner waiting for a short call's result, the
// call process for the next call of a busy worker.
constexpr auto owner_spin = std::chrono::microseconds(50);
constexpr auto child_spin = std::chrono::microseconds(200);

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

void close_fd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

}  // namespace

call_channel::call_channel() {
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

call_channel::~call_channel() {
  close_fd(wake_fds_[0]);
  close_fd(wake_fds_[1]);
  if (arena_ != nullptr) munmap(arena_, mapped_);
  if (arena_fd_ >= 0) close(arena_fd_);
  if (control_ != nullptr) {
    control_->~control();
    munmap(control_, sizeof(control));
  }
}

void call_channel::reserve(std::size_t bytes) {
  const std::size_t size = control_->arena_size.load();
  if (bytes > size) {
    const std::size_t want = page_round(std::max(bytes, size + size / 2));
    if (ftruncate(arena_fd_, static_cast<off_t>(want)) != 0) throw std::bad_alloc();
    control_->arena_size.store(want);
  }
  map_arena();
}

void call_channel::map_arena() {
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

void call_channel::open() {
  close_pipe();
  if (pipe2(wake_fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    wake_fds_[0] = wake_fds_[1] = -1;
    throw std::system_error(errno, std::generic_category(), "rankpool: pipe2");
  }
  control_->child_asleep.store(0);
  control_->owner_asleep.store(0);
  answers_seen_ = control_->answer.load();
}

void call_channel::keep_owner_end() {
  close_fd(wake_fds_[1]);
}

void call_channel::keep_child_end() {
  close_fd(wake_fds_[0]);
  requests_seen_ = control_->request.load();
}

void call_channel::close_pipe() {
  close_fd(wake_fds_[0]);
  close_fd(wake_fds_[1]);
  answers_seen_ = control_->answer.load();
}

void call_channel::request(request_kind kind, std::size_t bytes, std::size_t memory) {
  control_->request_kind = static_cast<std::uint32_t>(kind);
  control_->request_bytes = bytes;
  control_->request_memory = memory;
  control_->request.fetch_add(1);  // seq_cst, against child_asleep's store and load
  // Not process-private: the word lives in memory shared by two processes.
  if (control_->child_asleep.load() != 0) futex::wake(control_->request, futex::scope::shared, 1);
}

// Spinning at first, then in poll() on the pipe the call process writes to
// when we sleep, and which closes when it dies.
call_channel::wait_result call_channel::wait_answer(clock::time_point until) {
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
      pollfd fd{wake_fds_[0], POLLIN, 0};
      ppoll(&fd, 1, &timeout, nullptr);
      char drain[64];
      for (;;) {
        const ssize_t n = read(wake_fds_[0], drain, sizeof drain);
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

call_channel::answer_info call_channel::last_answer() const noexcept {
  return {static_cast<answer_kind>(control_->answer_kind),
          static_cast<std::size_t>(control_->answer_bytes),
          static_cast<std::size_t>(control_->answer_block)};
}

void call_channel::answer(answer_kind kind, std::size_t bytes, std::size_t block) {
  control_->answer_kind = static_cast<std::uint32_t>(kind);
  control_->answer_bytes = bytes;
  control_->answer_block = block;
  control_->answer.fetch_add(1);
  if (control_->owner_asleep.load() != 0) {
    const char byte = 1;
    [[maybe_unused]] const auto n = write(wake_fds_[1], &byte, 1);
  }
}

call_channel::request_info call_channel::next_request() {
  if (!spin_until_changed(control_->request, requests_seen_, child_spin)) {
    control_->child_asleep.store(1);
    while (control_->request.load() == requests_seen_) {
      futex::wait(control_->request, requests_seen_, futex::scope::shared);
    }
    control_->child_asleep.store(0);
  }
  ++requests_seen_;
  map_arena();
  return {static_cast<request_kind>(control_->request_kind),
          static_cast<std::size_t>(control_->request_bytes),
          static_cast<std::size_t>(control_->request_memory)};
}

}  // namespace rankpool::detail
