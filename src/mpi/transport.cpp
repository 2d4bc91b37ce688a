#include "mpi/transport.hpp"

#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/errors.hpp"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <iostream>

namespace rankpool::detail {

std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  return std::string(text, static_cast<std::size_t>(length));
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  throw broken_executor(std::string("rankpool: ") + what + " failed: " + mpi_error_text(rc));
}

namespace {

// Calls fn(offset, size, tag) for each part of a message of `total` bytes.
template <class Fn>
void for_each_part(std::size_t total, std::size_t max_part, int tag, Fn fn) {
  std::size_t offset = 0;
  while (total - offset > max_part) {
    fn(offset, max_part, static_cast<int>(part_tag));
    offset += max_part;
  }
  fn(offset, total - offset, tag);
}

}  // namespace

outbox::~outbox() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (auto& s : sends_) {
    MPI_Waitall(static_cast<int>(s.parts.size()), s.parts.data(), MPI_STATUSES_IGNORE);
    MPI_Wait(&s.last, MPI_STATUS_IGNORE);
  }
}

void outbox::send(int dest, std::string data, const segment* segments, std::size_t count) {
  auto& s = sends_.emplace_back();
  s.data = std::move(data);
  bytes_ += s.data.size();
  for (std::size_t i = 0; i < count; ++i) {
    const auto& seg = segments[i];
    for_each_part(seg.size, max_part_, seg.tag, [&](std::size_t offset, std::size_t size, int t) {
      MPI_Request request = MPI_REQUEST_NULL;
      check_mpi(MPI_Isend(s.data.data() + seg.offset + offset, static_cast<int>(size), MPI_BYTE,
                          dest, t, comm_, &request),
                "MPI_Isend");
      if (s.last != MPI_REQUEST_NULL) s.parts.push_back(s.last);
      s.last = request;
    });
  }
}

// True once every request of `s` has completed (MPI then sets each to
// MPI_REQUEST_NULL, so testing a finished send again is free).
bool outbox::test(pending_send& s) {
  int done = 0;
  if (!s.parts.empty()) {
    check_mpi(
        MPI_Testall(static_cast<int>(s.parts.size()), s.parts.data(), &done, MPI_STATUSES_IGNORE),
        "MPI_Testall");
    if (!done) return false;
    s.parts.clear();
  }
  check_mpi(MPI_Test(&s.last, &done, MPI_STATUS_IGNORE), "MPI_Test");
  return done != 0;
}

bool outbox::poll() {
  // Only the oldest sends are tested, up to the first unfinished one: sends
  // to one rank complete in order, and every MPI_Test that finds nothing
  // costs a round of MPI progress (with a sched_yield when oversubscribed).
  // A later send that is done already waits a little longer for its buffer
  // to be recycled, which costs nothing.
  return trim(0, 0);
}

bool outbox::trim(std::size_t keep, std::size_t keep_bytes) {
  bool any = false;
  while ((sends_.size() > keep || bytes_ > keep_bytes) && !sends_.empty() && test(sends_.front())) {
    bytes_ -= sends_.front().data.size();
    recycle(std::move(sends_.front().data));
    sends_.pop_front();
    any = true;
  }
  return any;
}

// Large buffers go to the shared pool, small ones to the small pool; with
// keep_buffers_, the largest and a few small ones stay for spare().
void outbox::recycle(std::string&& buffer) {
  constexpr std::size_t max_spares = 8;
  if (buffer.capacity() >= pooled_buffer_min) {
    if (keep_buffers_ && buffer.capacity() > large_spare_.capacity())
      std::swap(buffer, large_spare_);
    release_buffer(std::move(buffer));
  } else if (keep_buffers_ && spares_.size() < max_spares) {
    spares_.push_back(std::move(buffer));
  } else {
    release_small_buffer(std::move(buffer));  // the next call item may take it
  }
}

std::string outbox::spare() {
  std::string out;
  if (large_spare_.capacity() >= pooled_buffer_min) {
    out = std::move(large_spare_);
    large_spare_ = std::string();
  } else if (!spares_.empty()) {
    out = std::move(spares_.back());
    spares_.pop_back();
  }
  out.clear();
  return out;
}

void send_blocking(MPI_Comm comm, int dest, int tag, const char* data, std::size_t size,
                   std::size_t max_part) {
  for_each_part(size, max_part, tag, [&](std::size_t offset, std::size_t part, int t) {
    check_mpi(MPI_Send(data + offset, static_cast<int>(part), MPI_BYTE, dest, t, comm), "MPI_Send");
  });
}

void receive_block(MPI_Comm comm, int source, int tag, char* into, std::size_t bytes) {
  std::size_t offset = 0;
  std::string dropped;
  for (;;) {
    // Probe, then receive only what fits: a message that is not the block
    // (a lost block's successor, a forged announcement) stays queued for
    // the caller's loop. Only one thread receives from `source` meanwhile.
    MPI_Status status;
    check_mpi(MPI_Probe(source, MPI_ANY_TAG, comm, &status), "MPI_Probe");
    int count = 0;
    check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    const auto size = static_cast<std::size_t>(count);
    const bool part = status.MPI_TAG == part_tag;
    if ((!part && status.MPI_TAG != tag) || (into != nullptr && size > bytes - offset)) {
      throw broken_executor("rankpool: rank " + std::to_string(source) + " announced a block of " +
                            std::to_string(bytes) + " bytes but sent a message of " +
                            std::to_string(size) + " bytes with tag " +
                            std::to_string(status.MPI_TAG) + " after " + std::to_string(offset));
    }
    char* target = into;
    if (target == nullptr) {
      dropped.resize(size);
      target = dropped.data();
    } else {
      target += offset;
    }
    check_mpi(MPI_Recv(target, count, MPI_BYTE, source, status.MPI_TAG, comm, MPI_STATUS_IGNORE),
              "MPI_Recv");
    offset += size;
    if (!part) break;
  }
  if (into != nullptr && offset != bytes) {
    throw broken_executor("rankpool: rank " + std::to_string(source) + " announced a block of " +
                          std::to_string(bytes) + " bytes but sent " + std::to_string(offset));
  }
}

bool inbox::try_receive(message& m, int source) {
  for (;;) {
    int flag = 0;
    MPI_Message handle = MPI_MESSAGE_NULL;
    MPI_Status status;
    check_mpi(MPI_Improbe(source, MPI_ANY_TAG, comm_, &flag, &handle, &status), "MPI_Improbe");
    if (!flag) return false;
    int count = 0;
    check_mpi(MPI_Get_count(&status, MPI_BYTE, &count), "MPI_Get_count");
    m.source = status.MPI_SOURCE;
    m.tag = status.MPI_TAG;
    // A large message lands in a reused buffer: shrinking one costs nothing.
    if (m.data.capacity() < static_cast<std::size_t>(count)) {
      m.data = acquire_buffer(static_cast<std::size_t>(count));
    }
    m.data.resize(static_cast<std::size_t>(count));
    check_mpi(MPI_Mrecv(m.data.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE), "MPI_Mrecv");
    if (m.tag == part_tag) {
      partial_[m.source].append(m.data);
      continue;  // the rest of this message follows from the same sender
    }
    const auto it = partial_.find(m.source);
    if (it != partial_.end()) {
      it->second.append(m.data);
      m.data = std::move(it->second);
      partial_.erase(it);
    }
    return true;
  }
}

posted_receives::posted_receives(MPI_Comm comm, std::vector<int> sources, int tag,
                                 std::size_t slot_size)
    : comm_(comm),
      sources_(std::move(sources)),
      tag_(tag),
      slot_size_(slot_size),
      slots_(sources_.size(), std::string(slot_size, '\0')),
      requests_(sources_.size(), MPI_REQUEST_NULL),
      arrived_(sources_.size()),
      sizes_(sources_.size()),
      statuses_(sources_.size()) {
  for (std::size_t i = 0; i < sources_.size(); ++i) post(i);
}

void posted_receives::cancel() noexcept {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  for (auto& r : requests_) {
    if (r == MPI_REQUEST_NULL) continue;
    MPI_Cancel(&r);
    MPI_Wait(&r, MPI_STATUS_IGNORE);
  }
}

void posted_receives::post(std::size_t i) {
  check_mpi(MPI_Irecv(slots_[i].data(), static_cast<int>(slot_size_), MPI_BYTE, sources_[i], tag_,
                      comm_, &requests_[i]),
            "MPI_Irecv");
}

std::size_t posted_receives::test_some() {
  int count = 0;
  const int rc = MPI_Testsome(static_cast<int>(requests_.size()), requests_.data(), &count,
                              arrived_.data(), statuses_.data());
  if (rc != MPI_SUCCESS && rc != MPI_ERR_IN_STATUS) check_mpi(rc, "MPI_Testsome");
  if (count == MPI_UNDEFINED) return 0;  // every slot cancelled
  std::size_t n = 0;
  for (int k = 0; k < count; ++k) {
    const auto i = static_cast<std::size_t>(arrived_[static_cast<std::size_t>(k)]);
    const auto& status = statuses_[static_cast<std::size_t>(k)];
    if (rc == MPI_ERR_IN_STATUS && status.MPI_ERROR != MPI_SUCCESS) {
      if (status.MPI_ERROR != MPI_ERR_TRUNCATE) check_mpi(status.MPI_ERROR, "MPI_Testsome");
      // Only a rank that ignores the protocol sends more than a slot holds.
      std::cerr << "rankpool: the root dropped a message over " << slot_size_ << " bytes from rank "
                << sources_[i] << '\n';
      post(i);
      continue;
    }
    int bytes = 0;
    check_mpi(MPI_Get_count(&status, MPI_BYTE, &bytes), "MPI_Get_count");
    arrived_[n] = static_cast<int>(i);
    sizes_[n] = static_cast<std::size_t>(bytes);
    ++n;
  }
  return n;
}

}  // namespace rankpool::detail
