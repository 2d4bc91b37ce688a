// Whole messages over MPI: nonblocking sends that own their buffers, matched
// probes for receives, and messages larger than max_part split into parts.
// MPI counts are int; a part is sent with tag part_tag and the last part with
// the real tag, and MPI's non-overtaking rule keeps one sender's parts in order.
#pragma once

#include <mpi.h>

#include <cstddef>
#include "wire/tags.hpp"

#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace rankpool::detail {

using wire::part_tag;  // the tag of every part of a split message but the last

struct message {
  int source = -1;
  int tag = -1;
  std::string data;
};

// MPI's own words for an error code.
std::string mpi_error_text(int code);
// Throws broken_executor naming the MPI call and the MPI error text.
void check_mpi(int rc, const char* what);

class outbox {
 public:
  // keep_buffers: completed sends' buffers stay for spare() (a worker
  // encodes each result into the buffer of an earlier one); otherwise large
  // ones go back to the shared pool and small ones to the small one.
  outbox(MPI_Comm comm, std::size_t max_part, bool keep_buffers = false)
      : comm_(comm), max_part_(max_part), keep_buffers_(keep_buffers) {}
  outbox(const outbox&) = delete;
  outbox& operator=(const outbox&) = delete;
  ~outbox();

  // One message of part of a buffer.
  struct segment {
    std::size_t offset;
    std::size_t size;
    int tag;
  };
  void send(int dest, int tag, std::string data) {
    const segment whole{0, data.size(), tag};
    send(dest, std::move(data), &whole, 1);
  }
  // Sends several segments of one buffer, in order, each its own message.
  void send(int dest, std::string data, const segment* segments, std::size_t count);
  // Releases the buffers of completed sends; true if any completed.
  bool poll();
  // As poll(), but only while more than `keep` sends or `keep_bytes` bytes
  // are pending: sends that old are complete (their answers came back long
  // ago), so each test is cheap, and the newest sends are not tested at
  // all (a test of an unfinished send runs a round of MPI progress).
  bool trim(std::size_t keep, std::size_t keep_bytes);
  bool empty() const noexcept { return sends_.empty(); }
  // An empty string, with the capacity of a completed send's buffer when
  // one is kept (the largest first).
  std::string spare();
  // Offers a buffer no send uses any more for spare() (or to the pool).
  void recycle(std::string&& buffer);

 private:
  struct pending_send {
    std::string data;
    MPI_Request last = MPI_REQUEST_NULL;  // the only request of one unsplit message
    std::vector<MPI_Request> parts;       // the others (a split message, several segments)
  };
  bool test(pending_send& s);

  MPI_Comm comm_;
  std::size_t max_part_;
  bool keep_buffers_;
  std::vector<std::string> spares_;  // with keep_buffers_: a few small buffers of completed sends
  std::string large_spare_;          // and the largest one
  // A deque: its elements never move as sends are added at the back and
  // retired from the front (a string's bytes may live inside it), and it
  // allocates once per several sends rather than once per send.
  std::deque<pending_send> sends_;
  std::size_t bytes_ = 0;  // in sends_
};

// A blocking send of a whole message, split into parts like outbox::send.
void send_blocking(MPI_Comm comm, int dest, int tag, const char* data, std::size_t size,
                   std::size_t max_part);
inline void send_blocking(MPI_Comm comm, int dest, int tag, const std::string& data,
                          std::size_t max_part) {
  send_blocking(comm, dest, tag, data.data(), data.size(), max_part);
}

// Receives the block of `bytes` that `source` sends next with `tag` (split
// into parts like any message) straight into `into`; with `into` null the
// block is received and dropped, whatever its size. Throws broken_executor,
// leaving the message queued, if what arrives next is not such a block.
void receive_block(MPI_Comm comm, int source, int tag, char* into, std::size_t bytes);

class inbox {
 public:
  explicit inbox(MPI_Comm comm) : comm_(comm) {}
  // A whole message from `source` (or MPI_ANY_SOURCE) into `into`, whose
  // buffer is reused when it is large enough (a worker receives every call
  // into one buffer); false if none has arrived.
  bool try_receive(message& into, int source);

 private:
  MPI_Comm comm_;
  std::unordered_map<int, std::string> partial_;
};

// One receive posted per source, for messages of at most slot_size bytes
// with one tag: an arriving message is matched and copied into its slot as
// MPI progresses, and one MPI_Testsome finds all that arrived. A probe and a matched
// receive per message cost the root about twice as much.
class posted_receives {
 public:
  posted_receives(MPI_Comm comm, std::vector<int> sources, int tag, std::size_t slot_size);
  posted_receives(const posted_receives&) = delete;
  posted_receives& operator=(const posted_receives&) = delete;
  ~posted_receives() { cancel(); }

  // Cancels what is still posted; receive_all then finds nothing.
  void cancel() noexcept;

  // Calls handle(source, data) for every message that has arrived, seen
  // where it landed, and posts each slot again after its call; returns how
  // many there were.
  template <class Handle>
  std::size_t receive_all(Handle&& handle) {
    const std::size_t n = test_some();
    for (std::size_t k = 0; k < n; ++k) {
      const auto i = static_cast<std::size_t>(arrived_[k]);
      handle(sources_[i], std::string_view(slots_[i].data(), sizes_[k]));
      post(i);
    }
    return n;
  }

 private:
  std::size_t test_some();
  void post(std::size_t i);

  MPI_Comm comm_;
  std::vector<int> sources_;
  int tag_;
  std::size_t slot_size_;
  std::vector<std::string> slots_;
  std::vector<MPI_Request> requests_;
  std::vector<int> arrived_;          // test_some()'s slots, in order
  std::vector<std::size_t> sizes_;    // and their messages' sizes
  std::vector<MPI_Status> statuses_;  // its scratch
};

}  // namespace rankpool::detail
