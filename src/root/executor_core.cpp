#include "root/executor_core.hpp"

#include "rankpool/errors.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <iterator>
#include <utility>

namespace rankpool::detail {
namespace {

// Call ids are unique in the process, not per executor: a result that
// outlives its executor (a broken pool's workers answering after its
// communicator was freed; Open MPI reuses the context id for the next
// duplicate) can then never be taken for a call of a later executor.
std::uint64_t next_call_id() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace

void executor_core::submit(std::shared_ptr<state_base> state, std::string item) {
  bool sleeping = false;
  const auto now = loop_clock::now();
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    if (!queue_.broken.empty()) throw broken_executor(queue_.broken);
    if (queue_.shutting_down) throw std::runtime_error("rankpool: cannot submit after shutdown()");
    wire::set_call_id(item, next_call_id());
    state->count_in_pool();
    queue_.items.push_back({std::move(state), std::move(item), now});
    submitted_.fetch_add(1, std::memory_order_relaxed);
    sleeping = queue_.sleepers > 0;
  }
  // A futex wake costs microseconds: only when a thread actually sleeps.
  if (sleeping) queue_.wake.notify_one();
  on_submit();
}

bool executor_core::request_terminate(std::shared_ptr<state_base> s) {
  if (!isolated_) return false;
  {
    std::lock_guard<std::mutex> lock(terminate_mutex_);
    terminate_requests_.push_back(std::move(s));
    terminations_.store(true);
  }
  on_terminate();
  return true;
}

bool executor_core::take_terminations(std::vector<std::shared_ptr<state_base>>& out) {
  if (!terminations_.load(std::memory_order_acquire)) return false;
  std::lock_guard<std::mutex> lock(terminate_mutex_);
  out.insert(out.end(), std::make_move_iterator(terminate_requests_.begin()),
             std::make_move_iterator(terminate_requests_.end()));
  terminate_requests_.clear();
  terminations_.store(false);
  return std::exchange(terminate_all_, false);
}

void executor_core::shutdown(bool wait, bool cancel_futures) {
  std::deque<work_item> cancelled;
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    queue_.shutting_down = true;
    if (cancel_futures) cancelled.swap(queue_.items);
  }
  // Cancelling notifies waiters and runs callbacks: do it without the lock.
  for (auto& work : cancelled) work.state->cancel();
  // With isolation, the calls already running are stopped too, so that a
  // call stuck in a loop cannot hold the job.
  if (cancel_futures && isolated_) {
    {
      std::lock_guard<std::mutex> lock(terminate_mutex_);
      terminate_all_ = true;
      terminations_.store(true);
    }
    on_terminate();
  }
  queue_.wake.notify_all();
  on_submit();
  if (wait) join();
}

void executor_core::complete(state_base& state, const wire::result_item& result,
                             std::string buffer) {
  if (result.ok()) {
    const auto offset = static_cast<std::size_t>(result.payload.data() - buffer.data());
    state.set_payload(std::move(buffer), offset);
  } else {
    complete(state, result);
  }
}

// The exception a worker's error record stands for: what an isolated call's
// death or time limit became (call_process.cpp), or the call's own error.
static std::exception_ptr remote_exception(const wire::error_info& info) {
  if (info.type_name == wire::crashed_type) {
    return std::make_exception_ptr(
        worker_crashed(info.message, info.signal, info.exit_code, info.rank, info.host));
  }
  if (info.type_name == wire::timed_out_type) {
    return std::make_exception_ptr(call_timed_out(info.message, info.rank, info.host));
  }
  return std::make_exception_ptr(remote_error(info.message, info.type_name, info.rank, info.host));
}

void executor_core::complete(state_base& state, const wire::result_item& result) {
  if (result.ok()) {
    state.set_payload(std::string(result.payload));
    return;
  }
  std::exception_ptr error;
  try {
    const auto info = wire::decode_error_info(result.payload);
    // A call stopped by terminate() ends cancelled, as it was asked to.
    if (info.type_name == wire::terminated_type) {
      state.set_cancelled();
      return;
    }
    error = remote_exception(info);
  } catch (const std::exception& e) {
    error = std::make_exception_ptr(broken_executor(
        std::string("rankpool: a worker sent an undecodable error report: ") + e.what()));
  }
  state.set_exception(error);
}

void executor_core::call_ended(bool cancelled, bool failed) noexcept {
  auto& counter = cancelled ? cancelled_ : failed ? failed_ : completed_;
  counter.fetch_add(1, std::memory_order_relaxed);
}

void executor_core::record_start(loop_clock::time_point submitted,
                                 loop_clock::time_point now) noexcept {
  const auto waited = static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(now - submitted).count()));
  started_.fetch_add(1, std::memory_order_relaxed);
  wait_ns_.fetch_add(waited, std::memory_order_relaxed);
  auto longest = longest_wait_ns_.load(std::memory_order_relaxed);
  while (waited > longest &&
         !longest_wait_ns_.compare_exchange_weak(longest, waited, std::memory_order_relaxed)) {
  }
}

pool_stats executor_core::stats() {
  pool_stats s;
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    for (const auto& work : queue_.items) {
      if (work.state->status() == call_status::pending) ++s.pending;
    }
  }
  s.submitted = submitted_.load(std::memory_order_relaxed);
  s.completed = completed_.load(std::memory_order_relaxed);
  s.failed = failed_.load(std::memory_order_relaxed);
  s.cancelled = cancelled_.load(std::memory_order_relaxed);
  const auto started = started_.load(std::memory_order_relaxed);
  if (started > 0) {
    s.queue_wait.mean = static_cast<double>(wait_ns_.load(std::memory_order_relaxed)) * 1e-9 /
                        static_cast<double>(started);
  }
  s.queue_wait.max = static_cast<double>(longest_wait_ns_.load(std::memory_order_relaxed)) * 1e-9;
  add_worker_stats(s.workers);
  return s;
}

void executor_core::break_pool(const std::string& reason) {
  std::deque<work_item> failed;
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    if (queue_.broken.empty()) queue_.broken = reason;
    failed.swap(queue_.items);
  }
  const auto error = std::make_exception_ptr(broken_executor(reason));
  for (auto& work : failed) work.state->set_exception(error);
}

}  // namespace rankpool::detail
