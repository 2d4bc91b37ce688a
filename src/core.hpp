// The root side of an executor. executor_core holds what both kinds share:
// the pending queue where calls wait (and can still be cancelled) and the
// shutdown state. local_core runs calls on threads of this process (a
// one-rank communicator); mpi_core is the management loop that feeds worker ranks.
#pragma once

#include "dispatch.hpp"
#include "rankpool/detail/state.hpp"
#include "rankpool/options.hpp"

#include <atomic>
#include <boost/mpi/communicator.hpp>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rankpool::detail {

class executor_core : public driver {
 public:
  ~executor_core() override = default;

  // Queues an encoded call item (see wire::begin_call); throws after
  // shutdown or once the pool is broken.
  void submit(std::shared_ptr<state_base> state, std::string item);
  void shutdown(bool wait, bool cancel_futures);
  bool progress() override { return false; }
  bool background() const noexcept override { return true; }
  virtual const boost::mpi::communicator* private_comm() const noexcept { return nullptr; }

 protected:
  // Ends a call with the result item a worker produced: `buffer` holds it,
  // and is kept (not copied) when the result is a success.
  static void complete(state_base& state, const wire::result_item& result, std::string buffer);
  static void complete(state_base& state, const wire::result_item& result);
  // Marks the pool broken and fails every queued call with broken_executor(reason).
  void break_pool(const std::string& reason);
  // Called after a submission or shutdown was recorded, without the lock.
  virtual void on_submit() {}
  // Blocks until the pool has finished everything (shutdown(wait=true)).
  virtual void join() = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  int sleepers_ = 0;  // threads blocked on wake_: submit notifies only when there are any
  // Calls not yet sent; each state holds its encoded call item (call_item()).
  std::deque<std::shared_ptr<state_base>> pending_;
  std::atomic<bool> shutting_down_{false};  // set under mutex_; read without it too
  std::string broken_;                      // non-empty once the pool cannot run calls; says why
};

std::shared_ptr<executor_core> make_local_core(const options& opts, int threads);
std::shared_ptr<executor_core> make_mpi_core(const boost::mpi::communicator& comm,
                                             const options& opts);

// The worker side: serves calls from the root until it sends stop.
void run_worker(const boost::mpi::communicator& comm, const options& opts);

}  // namespace rankpool::detail
