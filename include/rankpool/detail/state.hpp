// The shared state behind rankpool::future: one per call, owned jointly by
// the futures and (until the call ends) the executor.
#pragma once

#include "rankpool/detail/codec.hpp"
#include "rankpool/detail/framing.hpp"
#include "rankpool/errors.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace rankpool::detail {

enum class call_status : std::uint8_t { pending, running, finished, cancelled };

// Lets threads that wait on a future drive the executor's management loop.
// Without a background thread (MPI below MPI_THREAD_MULTIPLE) they must; with
// one, a waiter still spins through a few steps before it blocks, so a quick
// result needs no thread hand-off.
class driver {
 public:
  virtual ~driver() = default;
  // One step of the management loop; false if there was nothing to do (or
  // another thread is stepping it).
  virtual bool progress() = 0;
  // True when a background thread makes progress on its own.
  virtual bool background() const noexcept = 0;
  // A waiting thread starts or stops driving: the background thread stands
  // aside meanwhile, so the two do not compete for cores. A waiter that
  // gives up (its result is slow) hands over at once; one whose result came
  // simply leaves, and the background thread resumes within a short wait.
  virtual void driving_started() noexcept {}
  virtual void driving_stopped(bool giving_up) noexcept { (void)giving_up; }
};

// Marks the current thread as driving `d` for the guard's lifetime.
class driving_guard {
 public:
  driving_guard() = default;
  driving_guard(const driving_guard&) = delete;
  driving_guard& operator=(const driving_guard&) = delete;
  ~driving_guard() { stop(false); }
  void start(driver& d) noexcept {
    if (d_ == nullptr) {
      d_ = &d;
      d.driving_started();
    }
  }
  // Never call with a lock held: the driver takes its own.
  void stop(bool giving_up) noexcept {
    if (d_ != nullptr) d_->driving_stopped(giving_up);
    d_ = nullptr;
  }
  bool active() const noexcept { return d_ != nullptr; }

 private:
  driver* d_ = nullptr;
};

// A small lock for the few fields that change together (status with the
// callbacks, the decoded value): held for a handful of instructions, so a
// spinning lock (yielding) costs 1 byte where a std::mutex costs 40.
class spin_lock {
 public:
  void lock() noexcept;
  void unlock() noexcept { flag_.clear(std::memory_order_release); }

 private:
  std::atomic_flag flag_ = ATOMIC_FLAG_INIT;
};

// One per call; kept small because a backlog of a million pending calls is
// a million of these. Waiting uses a futex on the status word, not a mutex
// and condition variable.
class state_base {
 public:
  using clock = std::chrono::steady_clock;

  explicit state_base(std::weak_ptr<driver> drv = {}) : driver_(std::move(drv)) {}
  state_base(const state_base&) = delete;
  state_base& operator=(const state_base&) = delete;
  virtual ~state_base();  // gives a large result buffer back for reuse

  // pending -> running when the call is handed to a worker; false if it was cancelled.
  bool try_start();
  // pending -> cancelled (true); true if already cancelled; false once running or finished.
  bool cancel();
  // Finished: the result's bytes are buffer[offset..end), so a whole
  // received message can be kept without copying the result out of it.
  void set_payload(std::string buffer, std::size_t offset = 0);
  void set_exception(std::exception_ptr error);

  // Finishes the call with its result decoded from `payload` at once, if its
  // type decodes cheaply (raw values, and chunks of them: at most one
  // allocation and a copy, no more than keeping the bytes would cost); a
  // decoding failure becomes the call's error. False for a type decoded
  // lazily by get() instead: the caller then keeps the bytes (set_payload).
  virtual bool set_value(std::string_view payload) {
    (void)payload;
    return false;
  }

  // Where a result sent as a block of `bytes` is received: the typed value's
  // own storage, made ready here; null if the result type takes no blocks
  // (or `bytes` is no whole number of its elements). Only the management
  // loop calls it, before the call is finished.
  virtual void* block_buffer(std::size_t bytes) {
    (void)bytes;
    return nullptr;
  }

  // While the call waits on the root, the buffer holds its encoded call item
  // (the executor's queue then holds only the state). Only the executor
  // touches it, before the call is sent.
  std::string& call_item() noexcept { return payload_; }

  call_status status() const noexcept {
    return static_cast<call_status>(status_.load(std::memory_order_acquire) & status_mask);
  }
  bool done() const noexcept;
  void wait() const;
  bool wait_until(clock::time_point deadline) const;
  // Blocks until done; null after success, the error otherwise.
  std::exception_ptr exception() const;
  // Runs fn once the call ends (at once, on this thread, if it has already ended).
  void on_done(std::function<void()> fn);
  const std::weak_ptr<driver>& progress_driver() const noexcept { return driver_; }

 protected:
  bool begin_completion() noexcept;
  void finish(call_status final_status);

  // Waits until done, then throws the call's error or cancelled_error; else
  // returns with value_lock_ held, for the typed state to decode its value.
  std::unique_lock<spin_lock> lock_finished() const;
  std::string_view payload() const noexcept {
    return std::string_view(payload_).substr(payload_offset_);
  }
  void store_decode_error(std::exception_ptr error) const { error_ = std::move(error); }

 private:
  // The status word's low bits are the call_status; `completing` marks a
  // result being stored, so no second result or a cancel can slip in.
  static constexpr std::uint32_t status_mask = 0xff;
  static constexpr std::uint32_t completing = 0x100;

  bool wait_impl(const clock::time_point* deadline) const;
  void block(const clock::time_point* deadline) const;

  mutable std::atomic<std::uint32_t> status_{static_cast<std::uint32_t>(call_status::pending)};
  mutable std::atomic<std::uint32_t> waiters_{0};  // threads blocked in the futex
  std::uint32_t payload_offset_ = 0;
  mutable spin_lock value_lock_;  // the decoded value and a decode error
  spin_lock callbacks_lock_;
  std::string payload_;
  mutable std::exception_ptr error_;
  std::unique_ptr<std::vector<std::function<void()>>> callbacks_;  // rare: allocated on first use
  std::weak_ptr<driver> driver_;
};

template <class T>
class state final : public state_base {
 public:
  using state_base::state_base;

  // Decodes on first use, on the caller's thread, so the management loop
  // never spends time in result deserialization.
  const T& get() const {
    auto lock = lock_finished();
    if (!value_) {
      try {
        value_.emplace(decode_result<T>(payload()));
      } catch (...) {
        store_decode_error(std::current_exception());
        throw;
      }
    }
    return *value_;
  }

  bool set_value(std::string_view payload) override {
    if constexpr (decodes_eagerly_v<T>) {
      if (!begin_completion()) return true;
      try {
        value_.emplace(decode_result<T>(payload));
      } catch (...) {
        store_decode_error(std::current_exception());
      }
      finish(call_status::finished);
      return true;
    } else {
      (void)payload;
      return false;
    }
  }

  void* block_buffer(std::size_t bytes) override {
    if constexpr (is_contiguous_raw_v<T>) {
      using element = typename T::value_type;
      if (bytes % sizeof(element) != 0) return nullptr;
      auto& value = value_.emplace();
      value.reserve(bytes / sizeof(element));
      advise_huge_pages(value.data(), bytes);
      value.resize(bytes / sizeof(element));
      return value.data();
    } else {
      (void)bytes;
      return nullptr;
    }
  }

 private:
  mutable std::optional<T> value_;
};

template <>
class state<void> final : public state_base {
 public:
  using state_base::state_base;
  void get() const { lock_finished(); }
  bool set_value(std::string_view) override {  // nothing to keep
    if (begin_completion()) finish(call_status::finished);
    return true;
  }
};

}  // namespace rankpool::detail
