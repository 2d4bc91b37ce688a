#include "rankpool/detail/state.hpp"
#include "rankpool/detail/backoff.hpp"

#include <iostream>

namespace rankpool::detail {

bool state_base::try_start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_ != call_status::pending) return false;
  status_ = call_status::running;
  return true;
}

bool state_base::cancel() {
  std::unique_lock<std::mutex> lock(mutex_);
  if (status_ == call_status::cancelled) return true;
  if (status_ != call_status::pending) return false;
  finish(lock, call_status::cancelled);
  return true;
}

void state_base::set_payload(std::string buffer, std::size_t offset) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (status_ == call_status::finished || status_ == call_status::cancelled) return;
  payload_ = std::move(buffer);
  payload_offset_ = offset;
  finish(lock, call_status::finished);
}

void state_base::set_exception(std::exception_ptr error) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (status_ == call_status::finished || status_ == call_status::cancelled) return;
  error_ = std::move(error);
  finish(lock, call_status::finished);
}

void state_base::finish(std::unique_lock<std::mutex>& lock, call_status final_status) {
  status_ = final_status;
  auto callbacks = std::move(callbacks_);
  callbacks_.clear();
  lock.unlock();
  cv_.notify_all();
  // As in concurrent.futures, a failing callback is reported and the rest still run.
  for (auto& fn : callbacks) {
    try {
      fn();
    } catch (const std::exception& e) {
      std::cerr << "rankpool: a done callback threw: " << e.what() << '\n';
    } catch (...) {
      std::cerr << "rankpool: a done callback threw a non-standard exception\n";
    }
  }
}

call_status state_base::status() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return status_;
}

bool state_base::done() const {
  const auto s = status();
  return s == call_status::finished || s == call_status::cancelled;
}

void state_base::wait() const {
  wait_impl(nullptr);
}

bool state_base::wait_until(clock::time_point deadline) const {
  return wait_impl(&deadline);
}

bool state_base::wait_impl(const clock::time_point* deadline) const {
  const auto finished = [this] {
    return status_ == call_status::finished || status_ == call_status::cancelled;
  };
  backoff pause;
  driving_guard driving;
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (finished()) return true;
    if (deadline != nullptr && clock::now() >= *deadline) return false;
    auto drv = driver_.lock();
    if (!drv || (drv->background() && !pause.spinning())) {
      driving.stop(true);
      // A background thread (or local workers) will finish the call.
      if (deadline == nullptr) {
        cv_.wait(lock, finished);
        return true;
      }
      return cv_.wait_until(lock, *deadline, finished);
    }
    // Drive the management loop from this waiting thread: always without a
    // background thread, briefly (while spinning) with one.
    lock.unlock();
    driving.start(*drv);
    if (drv->progress()) {
      pause.reset();
    } else {
      pause.pause();
    }
  }
}

std::exception_ptr state_base::exception() const {
  wait();
  std::lock_guard<std::mutex> lock(mutex_);
  if (status_ == call_status::cancelled) throw cancelled_error();
  return error_;
}

void state_base::on_done(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (status_ != call_status::finished && status_ != call_status::cancelled) {
      callbacks_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

std::unique_lock<std::mutex> state_base::lock_finished() const {
  wait();
  std::unique_lock<std::mutex> lock(mutex_);
  if (status_ == call_status::cancelled) throw cancelled_error();
  if (error_) std::rethrow_exception(error_);
  return lock;
}

}  // namespace rankpool::detail
