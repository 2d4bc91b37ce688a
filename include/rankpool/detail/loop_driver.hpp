// Who drives the executor's management loop, and the one function every
// waiter uses to drive it until what it waits for has happened.
//
// Without a background thread (MPI below MPI_THREAD_MULTIPLE) the threads
// that wait on futures must step the loop themselves; with one, a waiter
// still steps it while it spins, so a quick result needs no thread hand-off,
// and then blocks. The background thread stands aside while a waiter drives
// (src/root/loop_scheduler.cpp). docs/architecture.md describes the whole protocol.
#pragma once

#include "rankpool/detail/backoff.hpp"

#include <chrono>
#include <memory>

namespace rankpool::detail {

class state_base;

// The management loop as seen by a thread that waits on it.
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
  // A call of this pool ended (see state_base::count_in_pool): for its statistics.
  virtual void call_ended(bool cancelled, bool failed) noexcept {
    (void)cancelled;
    (void)failed;
  }
  // Whether the pool's calls run isolated, so that running ones can be stopped.
  virtual bool isolated_calls() const noexcept { return false; }
  // Asks the pool to stop the running call of `s` (future::terminate());
  // false if its calls are not isolated, so they cannot be stopped.
  virtual bool request_terminate(std::shared_ptr<state_base> s) {
    (void)s;
    return false;
  }
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

using loop_clock = std::chrono::steady_clock;

// Waits until ready() or the deadline (none if null); returns whether ready()
// came true. The one waiting protocol, for a future, wait(), as_completed()
// and an executor's join alike:
//   - while the driver has no background thread, or while this waiter still
//     spins (backoff::default_spin), it steps the loop itself;
//   - then it hands the loop back and sleeps in sleep(deadline), which must
//     return once ready() may have changed (or at the deadline; early returns
//     are fine: everything is checked again).
// get_driver() returns the driver (a pointer or shared_ptr), null if there is
// none any more (the executor is gone: only sleep() is left).
template <class GetDriver, class Ready, class Sleep>
bool drive_until(GetDriver&& get_driver, Ready&& ready, Sleep&& sleep,
                 const loop_clock::time_point* deadline) {
  backoff pause;
  driving_guard driving;
  for (;;) {
    if (ready()) return true;
    if (deadline != nullptr && loop_clock::now() >= *deadline) return false;
    const auto d = get_driver();
    if (d && !(d->background() && !pause.spinning())) {
      driving.start(*d);
      if (d->progress()) {
        pause.reset();
      } else {
        pause.pause();
      }
      continue;
    }
    if (driving.active()) {
      // Hand over to the background thread first (without any lock of the
      // waiter's: the driver takes its own), then look again before sleeping.
      driving.stop(true);
      continue;
    }
    sleep(deadline);
  }
}

// drive_until for a driver that may be gone (a future's weak reference).
template <class Ready, class Sleep>
bool drive_until(const std::weak_ptr<driver>& d, Ready&& ready, Sleep&& sleep,
                 const loop_clock::time_point* deadline) {
  return drive_until([&d] { return d.lock(); }, ready, sleep, deadline);
}

}  // namespace rankpool::detail
