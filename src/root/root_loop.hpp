// The management loop's message handling on the root: the only code on the
// root that exchanges call and result items with workers (through
// mpi/transport.hpp; the worker's side is worker/worker_loop.cpp). Each step receives result items
// and completes their futures, sends pending calls to workers with room in their window (dispatch),
// retires finished sends and, at shutdown, releases the workers. Which thread runs a step, and
// when, is loop_scheduler's concern.
#pragma once

#include "mpi/transport.hpp"
#include "root/call_ring.hpp"
#include "root/dispatch_policy.hpp"
#include "root/executor_core.hpp"
#include "wire/wire.hpp"

#include <boost/mpi/communicator.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rankpool::detail {

class root_loop {
 public:
  // `core` holds the pending queue this loop takes calls from; it outlives the loop.
  // `hosts` names each rank's host (by rank), for stats.
  root_loop(const boost::mpi::communicator& comm, const options& opts, executor_core& core,
            std::vector<std::string> hosts);

  // One step; true if it did anything. The caller holds the drive lock
  // (one thread steps at a time).
  bool step();
  // Before the loop sleeps: every message this rank sent itself (see
  // receive_one). The caller holds the drive lock.
  void read_strays();
  // No call is out and every send has completed. The caller holds the drive lock.
  bool quiet() const noexcept { return in_flight_count_ == 0 && outbox_.empty(); }
  // Calls sent and not yet answered; raised under the pending queue's mutex,
  // so a thread about to sleep on that queue sees a call another thread sent.
  std::size_t in_flight() const noexcept { return in_flight_count_.load(); }
  // The workers have been released (or communication failed): no step has anything to do.
  bool finished() const noexcept { return finished_.load(); }
  const boost::mpi::communicator& comm() const noexcept { return comm_; }
  // The most calls any worker has had in flight (for tests: the adaptive
  // window opened). Any thread may ask.
  std::size_t deepest_window() const noexcept { return deepest_window_.load(); }
  // Each worker's calls, failures, busy time and bytes so far. Any thread may ask.
  void add_worker_stats(std::vector<worker_stats>& out) const;

 private:
  using clock = std::chrono::steady_clock;

  bool receive_one();
  void handle(int source, int tag, std::string_view data, std::string* holder = nullptr);
  void receive_announced(int source, std::uint64_t size);
  void initializer_failed(int source, std::string_view payload);
  void complete_block(int source, const wire::result_item& result);
  std::shared_ptr<state_base> take_in_flight(int source, std::uint64_t id);
  bool dispatch();
  void send_calls(int worker, std::size_t at, std::size_t count, clock::time_point now);
  void send_items(int worker, std::size_t at, std::size_t count, clock::time_point now);
  void send_with_blocks(int worker, work_item& work, clock::time_point now);
  bool stop_workers_when_done();
  void count_bytes_in(int worker, std::size_t bytes);
  void count_bytes_out(int source, std::size_t bytes);
  void count_failure(int source);
  bool send_terminations();
  void fail_in_flight(const std::string& why);
  void end_loop(const std::string& why);
  void finish_loop();

  executor_core& core_;
  pending_queue& queue_;  // core_'s
  boost::mpi::communicator comm_;
  std::vector<int> workers_;
  outbox outbox_;
  inbox inbox_;  // only for what this rank sends itself (see receive_one)
  message stray_;
  std::uint32_t empty_polls_ = 0;
  // While calls are out, sends are tested only beyond these.
  std::size_t lazy_sends_ = 0;
  static constexpr std::size_t lazy_send_bytes = std::size_t{4} << 20;
  posted_receives posted_;
  std::vector<call_ring> in_flight_;  // per rank, in the order the calls were sent
  // Index into workers_ by rank (workers_.size() for the root).
  std::vector<std::size_t> worker_index_;
  // Per worker (index into workers_): who takes the next call.
  dispatch_policy policy_;
  // Per worker, for stats(): written by the stepping thread only.
  std::unique_ptr<worker_tally[]> tally_;
  std::vector<std::string> hosts_;  // by rank
  std::vector<std::vector<work_item>> assigned_;
  // The fastest answer seen from an idle worker; until there is one, what
  // shared memory takes on the machines we measured.
  clock::duration round_trip_ = std::chrono::microseconds{5};
  std::atomic<std::size_t> deepest_window_{0};
  std::vector<work_item> outgoing_;  // dispatch()'s scratch, kept for its capacity
  struct batch {
    int worker;
    std::size_t count;
  };
  std::vector<batch> batches_;                            // likewise
  std::vector<wire::block_span> blocks_;                  // send_with_blocks()'s scratch
  std::vector<outbox::segment> segments_;                 // likewise
  std::vector<std::shared_ptr<state_base>> terminating_;  // send_terminations()'s scratch
  std::atomic<std::size_t> in_flight_count_{0};
  bool stop_sent_ = false;
  std::atomic<bool> finished_{false};
};

}  // namespace rankpool::detail
