// Who runs the root loop's steps, and when. With MPI_THREAD_MULTIPLE a
// background thread runs them, and stands aside while a thread that waits
// on a future drives the loop itself (drive_until in loop_driver.hpp);
// otherwise the waiting (and submitting) threads are the only drivers.
// docs/architecture.md describes the whole protocol.
#include "root/loop_scheduler.hpp"

#include "rankpool/detail/backoff.hpp"
#include "rankpool/detail/loop_driver.hpp"
#include "root/root_loop.hpp"
#include "sys/timer_slack.hpp"

#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace rankpool::detail {
namespace {

class loop_scheduler final : public executor_core {
 public:
  loop_scheduler(const boost::mpi::communicator& comm, const options& opts,
                 std::vector<std::string> hosts)
      : executor_core(opts), loop_(comm, opts, *this, std::move(hosts)) {
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    threaded_ = level == MPI_THREAD_MULTIPLE;
    if (threaded_) thread_ = std::thread([this] { run(); });
  }

  ~loop_scheduler() override { shutdown(true, false); }

  bool background() const noexcept override { return threaded_; }

  void driving_started() noexcept override { drivers_.fetch_add(1); }

  void driving_stopped(bool giving_up) noexcept override {
    // A waiter whose result came is likely to wait again soon (iterating a
    // map): the background thread stays aside a little longer, so the two
    // threads do not take turns at the loop (each turn costs a hand-over of
    // the drive lock, of MPI's state and of malloc's arena).
    last_driven_.store(giving_up ? 0 : now_ns(), std::memory_order_relaxed);
    if (drivers_.fetch_sub(1) == 1 && giving_up && threaded_) {
      // The last driver blocks with calls still out: the background thread
      // takes over now rather than at the end of its wait.
      std::lock_guard<std::mutex> lock(queue_.mutex);
      aside_.notify_all();
    }
  }
  const boost::mpi::communicator* private_comm() const noexcept override { return &loop_.comm(); }
  std::size_t deepest_window() const noexcept override { return loop_.deepest_window(); }
  void add_worker_stats(std::vector<worker_stats>& out) const override {
    loop_.add_worker_stats(out);
  }

  // One step, by whichever thread gets the drive lock: the background
  // thread, a thread waiting on a future, or (without a background thread)
  // a submitting thread.
  bool progress() override {
    if (loop_.finished()) return false;
    std::unique_lock<std::mutex> drive(drive_mutex_, std::try_to_lock);
    return drive.owns_lock() && step();
  }

 private:
  // Holds the drive lock.
  bool step() {
    const bool busy = loop_.step();
    if (busy) busy_steps_.fetch_add(1, std::memory_order_relaxed);
    return busy;
  }

  void on_submit() override {
    if (!threaded_) progress();  // send the call now rather than at the next wait
  }

  void join() override {
    if (threaded_) {
      std::lock_guard<std::mutex> lock(join_mutex_);
      if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
      return;
    }
    // No background thread: the joining thread drives the loop to its end,
    // as any waiter does (it never blocks: only a background thread would end it).
    drive_until([this] { return static_cast<driver*>(this); }, [this] { return loop_.finished(); },
                [](const loop_clock::time_point*) {}, nullptr);
  }

  void run() {
    const short_timer_slack slack;
    // No spinning here: a thread waiting on a future drives the loop while
    // it spins, and this thread covers the rest with short sleeps (never
    // long ones: it blocks outright when no call is out).
    backoff pause(std::chrono::microseconds{0}, false);
    std::uint64_t seen = 0;
    while (!loop_.finished()) {
      if (drivers_.load() > 0) {
        stand_aside();
        continue;
      }
      if (const auto left = recent_drive_left(); left.count() > 0) {
        std::this_thread::sleep_for(left);
        continue;
      }
      {
        std::lock_guard<std::mutex> drive(drive_mutex_);
        if (!loop_.finished()) step();
      }
      // Work done by any thread (waiters step too) keeps this one attentive,
      // so a waiter that stops spinning is not left to a sleeping loop.
      const std::uint64_t now = busy_steps_.load(std::memory_order_relaxed);
      if (now != seen) {
        seen = now;
        pause.reset();
      } else {
        idle(pause);
      }
    }
  }

  static std::int64_t now_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  // How much longer the background thread leaves the loop to a waiter that
  // drove it recently.
  std::chrono::nanoseconds recent_drive_left() const noexcept {
    const std::int64_t last = last_driven_.load(std::memory_order_relaxed);
    if (last == 0) return std::chrono::nanoseconds{0};
    const std::int64_t left = last + recent_drive.count() - now_ns();
    return std::chrono::nanoseconds{left > 0 ? left : 0};
  }

  // While waiting threads drive the loop, this thread only waits for them
  // to stop (bounded, in case a wake-up slips between check and wait).
  void stand_aside() {
    std::unique_lock<std::mutex> lock(queue_.mutex);
    aside_.wait_for(lock, backoff::max_sleep,
                    [this] { return drivers_.load() == 0 || queue_.shutting_down; });
  }

  // Nothing happened in the last step. With no call anywhere, sleep until a
  // submission or shutdown (no CPU at all); else poll with a growing interval.
  void idle(backoff& pause) {
    // Whether calls are out is read under the drive lock (other threads may
    // be stepping); the queue is then checked under its mutex, which a
    // dispatching thread needs too, so no call can slip out in between.
    std::unique_lock<std::mutex> drive(drive_mutex_);
    const bool quiet = loop_.quiet();
    if (quiet && !loop_.finished()) loop_.read_strays();
    std::unique_lock<std::mutex> lock(queue_.mutex);
    drive.unlock();
    if (quiet && queue_.items.empty() && !queue_.shutting_down) {
      ++queue_.sleepers;
      // in_flight() too: a waiting thread may have dispatched the call
      // that woke us before we got here.
      queue_.wake.wait(lock, [this] {
        return !queue_.items.empty() || queue_.shutting_down || loop_.in_flight() > 0;
      });
      --queue_.sleepers;
      pause.reset();
      return;
    }
    // Calls are out: a short sleep. A submit does not wake it (the new call
    // waits at most one sleep, or is sent at once by a thread that waits on it).
    // Shorter while calls wait here for a worker to free up.
    auto sleep = pause.next_sleep();
    if (!queue_.items.empty()) sleep = std::min(sleep, backoff::waiting_max_sleep);
    lock.unlock();
    if (sleep.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(sleep);
    }
  }

  root_loop loop_;                            // stepped only under drive_mutex_
  std::atomic<std::uint64_t> busy_steps_{0};  // steps that did something, by any thread
  std::atomic<int> drivers_{0};               // waiting threads driving the loop now
  std::atomic<std::int64_t> last_driven_{0};  // when a waiter last stopped driving (ns)
  static constexpr std::chrono::microseconds recent_drive{200};
  std::condition_variable aside_;  // the background thread waits here for them
  bool threaded_ = false;
  std::mutex drive_mutex_;
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace

std::shared_ptr<executor_core> make_loop_scheduler(const boost::mpi::communicator& comm,
                                                   const options& opts,
                                                   std::vector<std::string> hosts) {
  return std::make_shared<loop_scheduler>(comm, opts, std::move(hosts));
}

}  // namespace rankpool::detail
