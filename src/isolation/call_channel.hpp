// The channel between an owner (a worker rank, or a local worker thread) and
// its call process: one control page and one growable arena (a memfd) that
// both processes map. The owner writes a call item into the arena and bumps
// `request`; the call process runs it, writes the result item (and a large
// result's bytes) into the arena and bumps `answer`. Each side spins
// briefly, then sleeps: the call process on a futex on `request` (no CPU
// while idle), the owner in poll() on a pipe whose only writer is the call
// process, so that its death (the pipe closing) wakes the owner at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace rankpool::detail {

class call_channel {
 public:
  using clock = std::chrono::steady_clock;
  enum class request_kind : std::uint32_t {
    run = 1,    // run the call item in the arena
    block = 2,  // the block asked for is in the arena
  };
  enum class answer_kind : std::uint32_t {
    ready = 0,  // the call process is serving
    block = 1,  // it needs the next argument block (answer.bytes long)
    done = 2,   // the result item (answer.bytes) and a block (answer.block) are in the arena
  };
  enum class wait_result { answered, died, waiting };
  struct request_info {
    request_kind kind;
    std::size_t bytes;
    std::size_t memory;  // the call's memory limit; 0: none
  };
  struct answer_info {
    answer_kind kind;
    std::size_t bytes;
    std::size_t block;
  };

  // Maps the control page and makes a 1 MiB arena; throws std::system_error.
  call_channel();
  call_channel(const call_channel&) = delete;
  call_channel& operator=(const call_channel&) = delete;
  ~call_channel();

  // Either process: makes the arena hold at least `bytes` (either may grow
  // it) and maps all of it; throws std::bad_alloc.
  void reserve(std::size_t bytes);
  // Either process: maps the arena again if the other one grew it.
  void map_arena();
  char* arena() const noexcept { return arena_; }

  // The owner, before forking a call process: a fresh wake pipe, nobody
  // asleep, no answer pending. Throws std::system_error.
  void open();
  // After the fork, each process keeps its own end of the wake pipe.
  void keep_owner_end();
  void keep_child_end();
  // The owner, once the call process is reaped (or could not be forked): the
  // pipe closes, and an answer it left unread is forgotten.
  void close_pipe();

  // The owner's side.
  void request(request_kind kind, std::size_t bytes, std::size_t memory);
  // Waits for the next answer until `until`: answered, the call process died
  // (its pipe closed), or still waiting.
  wait_result wait_answer(clock::time_point until);
  answer_info last_answer() const noexcept;

  // The call process's side.
  void answer(answer_kind kind, std::size_t bytes, std::size_t block);
  // Waits (spinning, then in the futex) for the owner's next request.
  request_info next_request();

 private:
  struct control;  // the page both processes share

  control* control_ = nullptr;  // a MAP_SHARED page, inherited by each call process
  int arena_fd_ = -1;           // memfd: call items in, results out, blocks both ways
  char* arena_ = nullptr;       // this process's mapping of it
  std::size_t mapped_ = 0;
  int wake_fds_[2] = {-1, -1};       // the pipe the call process writes to (and closes by dying)
  std::uint32_t answers_seen_ = 0;   // the owner's count
  std::uint32_t requests_seen_ = 0;  // the call process's count
};

}  // namespace rankpool::detail
