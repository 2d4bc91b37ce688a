// How one call on a worker exchanges blocks (large contiguous values sent
// as their own messages, see wire::block_min) with the root: the argument
// blocks a call's decoder receives, and the large result it hands back.
#pragma once

#include <cstddef>
#include <memory>
#include <stdexcept>

namespace rankpool::detail {

// A large contiguous result taken whole out of a call (see wire::block_min),
// to be sent straight from its own memory; `keep_alive` keeps it alive.
struct result_block {
  std::shared_ptr<const void> keep_alive;
  const void* data = nullptr;
  std::size_t bytes = 0;
};

// How one call on a worker exchanges blocks with the root: its arguments'
// blocks come in through receive(), and a large result is moved into
// `result` to be sent after the reply. Local threads and map() chunks have
// none: their values always travel inside the messages.
class call_blocks {
 public:
  // Receives the call's next argument block, of `bytes`, into `into`.
  virtual void receive(char* into, std::size_t bytes) = 0;
  result_block result;

 protected:
  ~call_blocks() = default;
};

// The call_blocks of one call item: a block its item does not announce
// (wire::blocks_flag) is an error, never a read; fetch() brings the bytes
// (from the root over MPI on a worker, through the arena in a call process).
class announced_blocks : public call_blocks {
 public:
  explicit announced_blocks(bool announced) noexcept : announced_(announced) {}
  void receive(char* into, std::size_t bytes) final {
    if (!announced_) {
      throw std::length_error("rankpool: an argument announces a block its call item does not");
    }
    fetch(into, bytes);
  }

 protected:
  ~announced_blocks() = default;
  virtual void fetch(char* into, std::size_t bytes) = 0;

 private:
  bool announced_;
};

}  // namespace rankpool::detail
