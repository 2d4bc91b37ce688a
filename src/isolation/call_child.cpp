// The call process's side of isolated calls: see call_child.hpp.
#include "isolation/call_child.hpp"

#include "wire/wire.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <new>
#include <stdexcept>
#include <string>

namespace rankpool::detail {
namespace {

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

// A call's argument blocks come from the owner through the arena, one
// request each.
class arena_blocks final : public announced_blocks {
 public:
  arena_blocks(call_channel& channel, bool announced)
      : announced_blocks(announced), channel_(channel) {}

 private:
  void fetch(char* into, std::size_t bytes) override {
    channel_.answer(call_channel::answer_kind::block, bytes, 0);
    channel_.next_request();
    std::memcpy(into, channel_.arena(), bytes);
  }

  call_channel& channel_;
};

}  // namespace

void serve_calls(call_channel& channel, const call_site& site, bool blocks) {
  using kind = call_channel::answer_kind;
  default_signals();
  channel.answer(kind::ready, 0, 0);
  std::string item_bytes;
  std::string reply;
  for (;;) {
    const auto request = channel.next_request();
    if (request.kind != call_channel::request_kind::run) continue;
    item_bytes.assign(channel.arena(), request.bytes);
    reply.clear();
    const auto item = wire::reader(item_bytes).next_call();
    arena_blocks arguments(channel, (item.flags & wire::blocks_flag) != 0);
    if (request.memory > 0) limit_memory(request.memory);
    run_call(item, site, reply, blocks ? &arguments : nullptr);
    if (request.memory > 0) limit_memory(0);
    // What the call printed appears now, not when this process ends (it
    // may be killed, or never end by itself).
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
    const auto& block = arguments.result;
    try {
      channel.reserve(reply.size() + block.bytes);
    } catch (const std::bad_alloc&) {
      _exit(71);  // the owner reports a call process that exited without a result
    }
    std::memcpy(channel.arena(), reply.data(), reply.size());
    if (block.bytes > 0) std::memcpy(channel.arena() + reply.size(), block.data, block.bytes);
    const std::size_t block_bytes = block.bytes;
    arguments.result = {};
    channel.answer(kind::done, reply.size(), block_bytes);
  }
}

}  // namespace rankpool::detail
