#include "rankpool/detail/state.hpp"

#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/loop_driver.hpp"
#include "sys/futex.hpp"

#include <climits>
#include <ctime>
#include <deque>
#include <iostream>
#include <iterator>
#include <stdexcept>
#include <thread>

namespace rankpool::detail {
namespace {}  // namespace

bool state_base::is_final(std::uint32_t word) noexcept {
  const auto s = static_cast<call_status>(word & status_mask);
  return (word & completing) == 0 && (s == call_status::finished || s == call_status::cancelled);
}

namespace {

// As in concurrent.futures, a failing callback is reported, never thrown
// into whoever ended the call or added the callback, and the rest still run.
void run_callback(std::function<void()>& fn) noexcept {
  try {
    fn();
  } catch (const std::exception& e) {
    std::cerr << "rankpool: a done callback threw: " << e.what() << '\n';
  } catch (...) {
    std::cerr << "rankpool: a done callback threw a non-standard exception\n";
  }
}

// The done callbacks this thread is running now (see finish()), if any.
thread_local std::deque<std::function<void()>>* running_callbacks = nullptr;

}  // namespace

state_base::~state_base() {
  release_buffer(std::move(payload_));
}

bool state_base::try_start() {
  auto expected = static_cast<std::uint32_t>(call_status::pending);
  return status_.compare_exchange_strong(expected,
                                         static_cast<std::uint32_t>(call_status::running));
}

bool state_base::cancel() {
  for (;;) {
    auto current = status_.load();
    if (current & completing) {  // another completion is being stored: see how it ends
      std::this_thread::yield();
      continue;
    }
    const auto s = static_cast<call_status>(current & status_mask);
    if (s == call_status::cancelled) return true;
    if (s != call_status::pending) return false;
    if (status_.compare_exchange_weak(current, current | completing)) {
      finish(call_status::cancelled);
      return true;
    }
  }
}

// Claims the right to store the one result; false if the call already ended
// (a late duplicate, or a result for a cancelled call).
bool state_base::begin_completion() noexcept {
  for (;;) {
    auto current = status_.load();
    if (current & completing) return false;
    const auto s = static_cast<call_status>(current & status_mask);
    if (s == call_status::finished || s == call_status::cancelled) return false;
    if (status_.compare_exchange_weak(current, current | completing)) return true;
  }
}

void state_base::set_payload(std::string buffer, std::size_t offset) {
  if (!begin_completion()) return;
  payload_ = std::move(buffer);
  payload_offset_ = static_cast<std::uint32_t>(offset);
  finish(call_status::finished);
}

void state_base::set_exception(std::exception_ptr error) {
  if (!begin_completion()) return;
  error_ = std::move(error);
  finish(call_status::finished);
}

void state_base::set_cancelled() {
  if (begin_completion()) finish(call_status::cancelled);
}

bool state_base::terminate(std::shared_ptr<state_base> self) {
  const auto d = driver_.lock();  // none once the pool is gone: every call has ended
  const auto refuse = [] {
    return std::invalid_argument(
        "rankpool: terminate() needs a pool made with options.isolation = "
        "rankpool::isolation::process");
  };
  if (d && !d->isolated_calls()) throw refuse();
  if (cancel()) return true;  // not started (or cancelled already)
  if (!done()) {
    if (!d || !d->request_terminate(std::move(self))) throw refuse();
    wait();
  }
  return status() == call_status::cancelled;
}

void state_base::finish(call_status final_status) {
  // Counted before anyone can see the call ended, so stats() read after a
  // get() includes it.
  if (counted_) {
    if (const auto d = driver_.lock()) {
      d->call_ended(final_status == call_status::cancelled, error_ != nullptr);
    }
  }
  std::unique_ptr<std::vector<std::function<void()>>> callbacks;
  {
    std::lock_guard<spin_lock> lock(callbacks_lock_);
    status_.store(static_cast<std::uint32_t>(final_status));
    callbacks = std::move(callbacks_);
  }
  if (waiters_.load() > 0) {
    futex::wake(status_, futex::scope::process);
  }
  if (!callbacks) return;
  // Callbacks that end further calls (then(), when_all()) would nest one
  // frame per link of a chain: those run after this thread's outer round
  // of callbacks instead, from its queue, so a chain of any length takes
  // constant stack.
  if (running_callbacks != nullptr) {
    for (auto& fn : *callbacks) running_callbacks->push_back(std::move(fn));
    return;
  }
  std::deque<std::function<void()>> queue(std::make_move_iterator(callbacks->begin()),
                                          std::make_move_iterator(callbacks->end()));
  callbacks.reset();
  running_callbacks = &queue;
  struct reset_queue {
    ~reset_queue() { running_callbacks = nullptr; }
  } reset;
  while (!queue.empty()) {
    auto fn = std::move(queue.front());
    queue.pop_front();
    run_callback(fn);
  }
}

bool state_base::done() const noexcept {
  return is_final(status_.load());
}

void state_base::wait() const {
  wait_impl(nullptr);
}

bool state_base::wait_until(clock::time_point deadline) const {
  return wait_impl(&deadline);
}

// Sleeps in the futex until the status word changes (or the deadline).
void state_base::sleep(const clock::time_point* deadline) const {
  const auto current = status_.load();
  if (is_final(current)) return;
  std::chrono::nanoseconds left{};
  if (deadline != nullptr) {
    left = std::chrono::duration_cast<std::chrono::nanoseconds>(*deadline - clock::now());
    if (left <= left.zero()) return;
  }
  waiters_.fetch_add(1);
  futex::wait(status_, current, futex::scope::process, deadline != nullptr ? &left : nullptr);
  waiters_.fetch_sub(1);
}

// Drives the management loop from this waiting thread (always without a
// background thread, briefly with one), then sleeps in the futex.
bool state_base::wait_impl(const clock::time_point* deadline) const {
  return drive_until(
      driver_, [this] { return done(); }, [this](const clock::time_point* d) { sleep(d); },
      deadline);
}

std::exception_ptr state_base::exception() const {
  wait();
  if (status() == call_status::cancelled) throw cancelled_error();
  std::lock_guard<spin_lock> lock(value_lock_);
  return error_;
}

void state_base::on_done(std::function<void()> fn) {
  {
    std::lock_guard<spin_lock> lock(callbacks_lock_);
    if (!is_final(status_.load())) {
      if (!callbacks_) callbacks_ = std::make_unique<std::vector<std::function<void()>>>();
      callbacks_->push_back(std::move(fn));
      return;
    }
  }
  run_callback(fn);  // already ended: reported here exactly as on completion
}

std::unique_lock<spin_lock> state_base::lock_finished() const {
  wait();
  if (status() == call_status::cancelled) throw cancelled_error();
  std::unique_lock<spin_lock> lock(value_lock_);
  if (error_) std::rethrow_exception(error_);
  return lock;
}

}  // namespace rankpool::detail
