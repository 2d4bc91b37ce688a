// Whole messages over MPI: nonblocking sends that own their buffers, matched
// probes for receives, and messages larger than max_part split into parts.
// MPI counts are int; a part is sent with tag part_tag and the last part with
// the real tag, and MPI's non-overtaking rule keeps one sender's parts in order.
#pragma once

#include <mpi.h>

#include "rankpool/detail/framing.hpp"

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace rankpool::detail {

struct message {
  int source = -1;
  int tag = -1;
  std::string data;
};

// Throws broken_executor naming the MPI call and the MPI error text.
void check_mpi(int rc, const char* what);

class outbox {
 public:
  outbox(MPI_Comm comm, std::size_t max_part) : comm_(comm), max_part_(max_part) {}
  outbox(const outbox&) = delete;
  outbox& operator=(const outbox&) = delete;
  ~outbox();

  void send(int dest, int tag, std::string data);
  // Releases the buffers of completed sends; true if any completed.
  bool poll();
  bool empty() const noexcept { return sends_.empty(); }

 private:
  struct pending_send {
    std::string data;
    std::vector<MPI_Request> requests;
  };
  MPI_Comm comm_;
  std::size_t max_part_;
  std::list<pending_send> sends_;  // list: buffers must not move while MPI reads them
};

// A blocking send of a whole message, split into parts like outbox::send.
void send_blocking(MPI_Comm comm, int dest, int tag, const std::string& data, std::size_t max_part);

class inbox {
 public:
  explicit inbox(MPI_Comm comm) : comm_(comm) {}
  // A whole message if one has arrived from `source` (or any rank), else nothing.
  std::optional<message> try_receive(int source = MPI_ANY_SOURCE);

 private:
  MPI_Comm comm_;
  std::unordered_map<int, std::string> partial_;
};

}  // namespace rankpool::detail
