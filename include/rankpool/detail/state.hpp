// The future's shared state: one per call, owned jointly by the futures and
// (until the call ends) the executor. It holds the call's status, its
// result (the received result bytes, or the decoded value) or error, and
// the done callbacks. The encoded call item is not here: it waits in the
// executor's pending queue beside the state (src/root/executor_core.hpp).
// No Boost.Serialization here: the executor hands each state the function
// that decodes its result (value_codec.hpp's decode_result<T>).
#pragma once

#include "rankpool/detail/block_cache.hpp"
#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/loop_driver.hpp"
#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/detail/raw_value.hpp"
#include "rankpool/detail/spin_lock.hpp"
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
#include <string_view>
#include <utility>
#include <vector>

namespace rankpool::detail {

enum class call_status : std::uint8_t { pending, running, finished, cancelled };

// Results whose decoding costs no more than copying their bytes (raw
// values, chunks of them): decoded as they arrive rather than kept as bytes.
template <class T>
struct decodes_eagerly : std::bool_constant<is_raw_v<T>> {};
template <class R>
struct decodes_eagerly<chunk<R>> : std::bool_constant<is_raw_v<R>> {};
template <class T>
inline constexpr bool decodes_eagerly_v = decodes_eagerly<T>::value;

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
  // running -> cancelled: a running call stopped by terminate().
  void set_cancelled();
  // future::terminate(): cancels the call if it has not started, else asks
  // its pool to stop it, and waits for it to end; true if it ended cancelled.
  // `self` is this state, kept alive while the pool looks for it.
  bool terminate(std::shared_ptr<state_base> self);

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
  // A call of a pool (not a then()/when_all() value): its end is counted in
  // the pool's statistics (driver::call_ended). Set before it is queued.
  void count_in_pool() noexcept { counted_ = true; }

 protected:
  bool begin_completion() noexcept;
  void finish(call_status final_status);

  // Waits until done, then throws the call's error or cancelled_error; else
  // returns with value_lock_ held, for the typed state to decode its value.
  std::unique_lock<spin_lock> lock_finished() const;
  // The result's bytes (see set_payload).
  std::string_view payload() const noexcept {
    return std::string_view(payload_).substr(payload_offset_);
  }
  void store_decode_error(std::exception_ptr error) const { error_ = std::move(error); }

 private:
  // The status word's low bits are the call_status; `completing` marks a
  // result being stored, so no second result or a cancel can slip in.
  static constexpr std::uint32_t status_mask = 0xff;
  static constexpr std::uint32_t completing = 0x100;
  // A status word of a call that has ended (finished or cancelled, and stored).
  static bool is_final(std::uint32_t word) noexcept;

  bool wait_impl(const clock::time_point* deadline) const;
  void sleep(const clock::time_point* deadline) const;

  mutable std::atomic<std::uint32_t> status_{static_cast<std::uint32_t>(call_status::pending)};
  mutable std::atomic<std::uint32_t> waiters_{0};  // threads asleep in the futex
  std::uint32_t payload_offset_ = 0;
  mutable spin_lock value_lock_;  // the decoded value and a decode error
  spin_lock callbacks_lock_;
  bool counted_ = false;  // see count_in_pool()
  std::string payload_;   // the received result bytes, kept for a lazy decode
  mutable std::exception_ptr error_;
  std::unique_ptr<std::vector<std::function<void()>>> callbacks_;  // rare: allocated on first use
  std::weak_ptr<driver> driver_;
};

template <class T>
class state final : public state_base {
 public:
  // How the result's bytes become a T (value_codec.hpp's decode_result<T>).
  using decoder = T (*)(std::string_view);

  state(std::weak_ptr<driver> drv, decoder decode) : state_base(std::move(drv)), decode_(decode) {}
  // A value made on the root (then(), when_all(), when_any()), never decoded
  // from bytes: set_local() gives it.
  explicit state(std::weak_ptr<driver> drv) : state_base(std::move(drv)), decode_(nullptr) {}

  // Finishes the call with `value`; false if it had already ended (cancelled).
  template <class V>
  bool set_local(V&& value) {
    if (!begin_completion()) return false;
    value_.emplace(std::forward<V>(value));
    finish(call_status::finished);
    return true;
  }

  // Decodes on first use, on the caller's thread, so the management loop
  // never spends time in result deserialization.
  const T& get() const {
    auto lock = lock_finished();
    if (!value_ && decode_ != nullptr) {
      try {
        value_.emplace(decode_(payload()));
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
        value_.emplace(decode_(payload));
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

  // A value that a block was received into goes back to its block cache
  // with the state: the next large result of this type lands in memory
  // already mapped. (Values decoded otherwise, as with local threads, are
  // not kept: nothing would take them.)
  ~state() override {
    if constexpr (is_contiguous_raw_v<T>) {
      if (from_block_ && value_ && block_cache<T>::alive()) {
        block_cache<T>::instance().keep(*value_);
      }
    }
  }

  void* block_buffer(std::size_t bytes) override {
    if constexpr (is_contiguous_raw_v<T>) {
      using element = typename T::value_type;
      if (bytes % sizeof(element) != 0) return nullptr;
      auto& value = value_.emplace(block_cache<T>::instance().take(bytes / sizeof(element)));
      from_block_ = true;
      return value.data();
    } else {
      (void)bytes;
      return nullptr;
    }
  }

 private:
  decoder decode_;
  mutable std::optional<T> value_;
  bool from_block_ = false;  // value_ was made by block_buffer
};

template <>
class state<void> final : public state_base {
 public:
  using state_base::state_base;
  void get() const { lock_finished(); }
  bool set_local() {
    if (!begin_completion()) return false;
    finish(call_status::finished);
    return true;
  }
  bool set_value(std::string_view) override {  // nothing to keep
    if (begin_completion()) finish(call_status::finished);
    return true;
  }
};

// then()'s first step: if `before` failed or was cancelled, so does `next`,
// and false is returned; false also if `next` was cancelled meanwhile.
// True: `next` is to be computed from `before`'s value.
template <class U>
bool pass_on_failure(state_base& before, state<U>& next) {
  if (before.status() == call_status::cancelled) {
    next.cancel();
    return false;
  }
  if (auto error = before.exception()) {
    next.set_exception(std::move(error));
    return false;
  }
  return !next.done();
}

}  // namespace rankpool::detail
