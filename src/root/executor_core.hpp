// The root side of an executor, as both kinds share it: the pending queue,
// where work items wait (and can still be cancelled) until a worker has
// room, and the shutdown state. local_core runs calls on threads of this
// process (a one-rank communicator); loop_scheduler runs the root_loop that
// feeds worker ranks.
#pragma once

#include "rankpool/detail/loop_driver.hpp"
#include "rankpool/detail/state.hpp"
#include "rankpool/options.hpp"
#include "rankpool/stats.hpp"
#include "wire/wire.hpp"

#include <boost/mpi/communicator.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace rankpool::detail {

// A submitted call on the root: its future's state and its encoded call
// item (see call_item.hpp), which waits here until it is sent.
struct work_item {
  std::shared_ptr<state_base> state;
  std::string call_item;
  loop_clock::time_point submitted{};  // for pool_stats::queue_wait
};

// A counter with one writer at a time (the thread that steps the loop, under
// its drive lock) and readers anywhere (stats()): a plain load and store,
// no read-modify-write on the hot path.
inline void tally(std::atomic<std::uint64_t>& counter, std::uint64_t by) noexcept {
  counter.store(counter.load(std::memory_order_relaxed) + by, std::memory_order_relaxed);
}

// One worker's share of the calls, for stats(): a worker rank's, kept by the
// root loop, or a local thread's, kept by that thread. One writer at a time.
struct worker_tally {
  std::atomic<std::uint64_t> calls{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> busy_ns{0};
  std::atomic<std::uint64_t> bytes_in{0};
  std::atomic<std::uint64_t> bytes_out{0};

  // A call that kept the worker busy for `busy` has ended.
  template <class Duration>
  void call_ended(Duration busy, bool failed_call) noexcept {
    tally(calls, 1);
    if (failed_call) tally(failed, 1);
    tally(busy_ns, static_cast<std::uint64_t>(
                       std::chrono::duration_cast<std::chrono::nanoseconds>(busy).count()));
  }
  worker_stats to_stats(int rank, std::string host) const {
    worker_stats w;
    w.rank = rank;
    w.host = std::move(host);
    w.calls = calls.load(std::memory_order_relaxed);
    w.failed = failed.load(std::memory_order_relaxed);
    w.busy_seconds = static_cast<double>(busy_ns.load(std::memory_order_relaxed)) * 1e-9;
    w.bytes_in = bytes_in.load(std::memory_order_relaxed);
    w.bytes_out = bytes_out.load(std::memory_order_relaxed);
    return w;
  }
};

// Work items not yet sent, in submission order, with what guards them.
// Submitting threads append; the management loop (or a local worker
// thread) takes from the front.
struct pending_queue {
  std::mutex mutex;              // guards everything below but shutting_down's reads
  std::condition_variable wake;  // a submission, a shutdown or a broken pool
  int sleepers = 0;              // threads blocked on wake: submit notifies only when there are any
  std::deque<work_item> items;
  std::atomic<bool> shutting_down{false};  // set under mutex; read without it too
  std::string broken;                      // non-empty once the pool cannot run calls; says why
};

class executor_core : public driver {
 public:
  explicit executor_core(const options& opts) : isolated_(opts.isolation == isolation::process) {}
  ~executor_core() override = default;

  // Queues an encoded call item (see wire::begin_call); throws after
  // shutdown or once the pool is broken.
  void submit(std::shared_ptr<state_base> state, std::string item);
  void shutdown(bool wait, bool cancel_futures);
  bool progress() override { return false; }
  bool background() const noexcept override { return true; }
  virtual const boost::mpi::communicator* private_comm() const noexcept { return nullptr; }
  // The most calls one worker has had in flight (0 for local threads, which
  // take one call at a time).
  virtual std::size_t deepest_window() const noexcept { return 0; }

  pending_queue& queue() noexcept { return queue_; }
  // Ends a call with the result item a worker produced: `buffer` holds it,
  // and is kept (not copied) when the result is a success.
  static void complete(state_base& state, const wire::result_item& result, std::string buffer);
  static void complete(state_base& state, const wire::result_item& result);
  // Marks the pool broken and fails every queued call with broken_executor(reason).
  void break_pool(const std::string& reason);

  // Statistics (executor::stats()): the counts here, the workers' from the subclass.
  void call_ended(bool cancelled, bool failed) noexcept override;
  // A worker took a call queued at `submitted`; any thread may call it.
  void record_start(loop_clock::time_point submitted, loop_clock::time_point now) noexcept;
  pool_stats stats();

  // future::terminate() of a call that has started: recorded for whoever
  // runs calls (the root loop, or the local threads); false without isolation.
  bool request_terminate(std::shared_ptr<state_base> s) override;
  // Takes the recorded requests; true if every running call is to be
  // stopped (shutdown with cancel_futures). Cheap when there are none.
  bool take_terminations(std::vector<std::shared_ptr<state_base>>& out);
  bool isolated_calls() const noexcept override { return isolated_; }

 protected:
  // Called after a submission or shutdown was recorded, without the lock.
  virtual void on_submit() {}
  // Blocks until the pool has finished everything (shutdown(wait=true)).
  virtual void join() = 0;

  // After a terminate request was recorded, without locks: wake whoever takes them.
  virtual void on_terminate() { on_submit(); }
  // One entry per worker rank or local thread.
  virtual void add_worker_stats(std::vector<worker_stats>& out) const = 0;

  pending_queue queue_;

 private:
  bool isolated_;
  std::mutex terminate_mutex_;
  std::vector<std::shared_ptr<state_base>> terminate_requests_;
  bool terminate_all_ = false;
  std::atomic<bool> terminations_{false};  // something above to take
  // For stats(): relaxed counters, each bumped where its event happens.
  std::atomic<std::uint64_t> submitted_{0};
  std::atomic<std::uint64_t> completed_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> cancelled_{0};
  std::atomic<std::uint64_t> started_{0};
  std::atomic<std::uint64_t> wait_ns_{0};
  std::atomic<std::uint64_t> longest_wait_ns_{0};
};

}  // namespace rankpool::detail
