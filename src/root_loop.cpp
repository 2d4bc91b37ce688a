// The management loop on the root: the only code that talks MPI for an
// executor. Each step receives results, feeds workers up to their window,
// completes sends and, at shutdown, releases the workers. With
// MPI_THREAD_MULTIPLE it runs on its own thread; otherwise threads that wait
// on futures (and submit) drive the same step.
#include "call_ring.hpp"
#include "codec.hpp"
#include "core.hpp"
#include "rankpool/detail/backoff.hpp"
#include "rankpool/errors.hpp"
#include "timer_slack.hpp"
#include "transport.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <iostream>

namespace rankpool::detail {
namespace {

std::vector<int> other_ranks(int size, int root) {
  std::vector<int> ranks;
  for (int r = 0; r < size; ++r) {
    if (r != root) ranks.push_back(r);
  }
  return ranks;
}

class mpi_core final : public executor_core {
 public:
  mpi_core(const boost::mpi::communicator& comm, const options& opts)
      : comm_(comm),
        workers_(other_ranks(comm_.size(), opts.root)),
        outbox_(comm_, opts.max_message_bytes),
        inbox_(comm_),
        posted_(comm_, workers_, wire::result_tag, wire::posted_result_max),
        in_flight_(static_cast<std::size_t>(comm_.size()), call_ring(opts.window)) {
    lazy_sends_ = 64 * workers_.size() * static_cast<std::size_t>(opts.window);
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    threaded_ = level == MPI_THREAD_MULTIPLE;
    if (threaded_) thread_ = std::thread([this] { run(); });
  }

  ~mpi_core() override { shutdown(true, false); }

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
      std::lock_guard<std::mutex> lock(mutex_);
      aside_.notify_all();
    }
  }
  const boost::mpi::communicator* private_comm() const noexcept override { return &comm_; }

  // One step, by whichever thread gets the drive lock: the background
  // thread, a thread waiting on a future, or (without a background thread)
  // a submitting thread.
  bool progress() override {
    if (finished_) return false;
    std::unique_lock<std::mutex> drive(drive_mutex_, std::try_to_lock);
    return drive.owns_lock() && step();
  }

 private:
  void on_submit() override {
    if (!threaded_) progress();  // send the call now rather than at the next wait
  }

  void join() override {
    if (threaded_) {
      std::lock_guard<std::mutex> lock(join_mutex_);
      if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
      return;
    }
    backoff pause;
    while (!finished_) {
      if (progress()) {
        pause.reset();
      } else {
        pause.pause();
      }
    }
  }

  void run() {
    const short_timer_slack slack;
    // No spinning here: a thread waiting on a future drives the loop while
    // it spins, and this thread covers the rest with short sleeps (never
    // long ones: it blocks outright when no call is out).
    backoff pause(std::chrono::microseconds{0}, false);
    std::uint64_t seen = 0;
    while (!finished_) {
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
        if (!finished_) step();
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
    std::unique_lock<std::mutex> lock(mutex_);
    aside_.wait_for(lock, backoff::max_sleep,
                    [this] { return drivers_.load() == 0 || shutting_down_; });
  }

  // Nothing happened in the last step. With no call anywhere, sleep until a
  // submission or shutdown (no CPU at all); else poll with a growing interval.
  void idle(backoff& pause) {
    // Whether calls are out is read under the drive lock (other threads may
    // be stepping); the queue is then checked under mutex_, which a
    // dispatching thread needs too, so no call can slip out in between.
    std::unique_lock<std::mutex> drive(drive_mutex_);
    const bool quiet = in_flight_count_ == 0 && outbox_.empty();
    if (quiet && !finished_) read_strays();
    std::unique_lock<std::mutex> lock(mutex_);
    drive.unlock();
    if (quiet && pending_.empty() && !shutting_down_) {
      ++sleepers_;
      // in_flight_count_ too: a waiting thread may have dispatched the call
      // that woke us before we got here.
      wake_.wait(lock,
                 [this] { return !pending_.empty() || shutting_down_ || in_flight_count_ > 0; });
      --sleepers_;
      pause.reset();
      return;
    }
    // Calls are out: a short sleep. A submit does not wake it (the new call
    // waits at most one sleep, or is sent at once by a thread that waits on it).
    const auto sleep = pause.next_sleep();
    lock.unlock();
    if (sleep.count() == 0) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(sleep);
    }
  }

  // Each MPI call that finds nothing runs a round of MPI progress (and, when
  // ranks outnumber cores, a sched_yield): a step that received a result
  // makes no further probe or test, so a busy root spends its time on
  // results and calls rather than on empty polls. Sends are checked for
  // completion only when no call is out, and otherwise only the old ones
  // beyond lazy_sends_ (complete long since: cheap to test).
  bool step() {
    try {
      const bool received = receive_one();
      bool busy = dispatch() || received;
      // While calls are out, recent sends stay untested (see outbox::trim):
      // a test of an unfinished send is a round of MPI progress, a
      // sched_yield when oversubscribed. All are retired before the loop idles.
      if (!busy && in_flight_count_ == 0) {
        busy = outbox_.poll();
      } else {
        outbox_.trim(lazy_sends_, lazy_send_bytes);
      }
      busy = stop_workers_when_done() || busy;
      if (busy) busy_steps_.fetch_add(1, std::memory_order_relaxed);
      return busy;
    } catch (const std::exception& e) {
      end_loop(e.what());
      return true;
    }
  }

  bool receive_one() {
    // Every result that has arrived, from any worker, in one MPI call; each
    // slot is posted again only after its message is handled, so a block
    // or an announced message from that worker is read first.
    if (posted_.receive_all([this](int source, std::string_view data) {
          handle(source, wire::result_tag, data);
        }) > 0) {
      return true;
    }
    // Workers send only result_tag messages, all of which land in the
    // posted receives. Now and then, also read what this very rank may have
    // sent to itself on the private communicator (it is no worker; only a
    // stray sender does), so that nothing sits unread.
    if (++empty_polls_ % 16 != 0) return false;
    if (!inbox_.try_receive(stray_, comm_.rank())) return false;
    handle(stray_.source, stray_.tag, stray_.data);
    return true;
  }

  // Before the loop sleeps: every message this rank sent itself (see
  // receive_one). Holds the drive lock.
  void read_strays() {
    try {
      while (inbox_.try_receive(stray_, comm_.rank()))
        handle(stray_.source, stray_.tag, stray_.data);
    } catch (const std::exception& e) {
      end_loop(e.what());
    }
  }

  // Communication failed: nothing in flight can be trusted to come back.
  void end_loop(const std::string& why) {
    fail_in_flight(why);
    finish_loop();
  }

  // The loop's last act: no receive stays posted, so later users of the
  // communicator (a test that drains a broken pool's workers) get every message.
  void finish_loop() {
    posted_.cancel();
    finished_ = true;
  }

  // `owner`, if given, holds `data`: a lone lazily decoded result keeps it
  // whole rather than a copy of its bytes.
  void handle(int source, int tag, std::string_view data, std::string* owner = nullptr) {
    if (tag != wire::result_tag) {
      std::cerr << "rankpool: the root ignored a message with unknown tag " << tag << " from rank "
                << source << '\n';
      return;
    }
    try {
      wire::reader reader(data);
      while (!reader.empty()) {
        const auto result = reader.next_result();
        if (result.envelope) {
          if (owner) throw wire::decode_error("rankpool: an envelope inside an envelope");
          receive_announced(source, result.follows);
        } else if (result.id == 0 && !result.ok) {
          initializer_failed(source, result.payload);
          return;
        } else if (result.block) {
          complete_block(source, result);
        } else if (auto state = take_in_flight(source, result.id)) {
          // Raw results are decoded here; others keep a copy of their bytes.
          if (result.ok && state->set_value(result.payload)) continue;
          if (owner != nullptr && reader.empty()) {
            complete(*state, result, std::move(*owner));
          } else {
            complete(*state, result);
          }
        }
      }
    } catch (const wire::decode_error& e) {
      std::cerr << "rankpool: the root dropped an undecodable result message from rank " << source
                << ": " << e.what() << '\n';
    }
  }

  // A message too large for a posted receive, announced by an envelope:
  // received from that worker straight away (it is the next thing it sends).
  void receive_announced(int source, std::uint64_t size) {
    std::string buffer = acquire_buffer(static_cast<std::size_t>(size));
    buffer.resize(static_cast<std::size_t>(size));
    receive_block(comm_, source, wire::large_tag, buffer.data(), buffer.size());
    handle(source, wire::result_tag, buffer, &buffer);
    release_buffer(std::move(buffer));
  }

  void initializer_failed(int source, std::string_view payload) {
    std::string why = "rankpool: the initializer failed on worker rank " + std::to_string(source);
    try {
      const auto info = wire::decode_error_info(payload);
      why += " (" + info.host + "): " + info.message;
    } catch (const std::exception&) {
      // the report itself is garbled: the rank is all we know
    }
    fail_in_flight(why);
  }

  // A result sent as a block (see wire::block_min) goes straight into the
  // future's value. A block nobody takes (its call failed already when the
  // pool broke) is still received, so it cannot be mistaken for a message.
  void complete_block(int source, const wire::result_item& result) {
    const auto bytes = static_cast<std::size_t>(result.follows);
    auto state = take_in_flight(source, result.id);
    char* into = nullptr;
    std::exception_ptr error;
    if (state) {
      try {
        into = static_cast<char*>(state->block_buffer(bytes));
        if (into == nullptr) {
          throw broken_executor("rankpool: rank " + std::to_string(source) + " sent a result of " +
                                std::to_string(bytes) + " bytes as a block for call " +
                                std::to_string(result.id) + ", whose result type takes none");
        }
      } catch (...) {
        error = std::current_exception();  // e.g. bad_alloc: that call fails, the pool goes on
      }
    }
    try {
      receive_block(comm_, source, wire::block_tag, error ? nullptr : into, bytes);
    } catch (...) {
      if (state) state->set_exception(std::current_exception());
      throw;  // the stream from that worker is out of step: the pool breaks
    }
    if (!state) return;
    if (error) {
      state->set_exception(error);
    } else {
      state->set_payload(std::string());
    }
  }

  // The state of an in-flight call, now answered; null for an id we do not
  // know (already failed when the pool broke, or a stray message).
  std::shared_ptr<state_base> take_in_flight(int source, std::uint64_t id) {
    if (source < 0 || source >= comm_.size()) return nullptr;
    auto state = in_flight_[static_cast<std::size_t>(source)].take(id);
    if (state) --in_flight_count_;
    return state;
  }

  // Moves queued calls to workers with room in their window, several calls
  // to one worker in one message. The calls are taken under the lock and
  // sent after it, so submitting threads never wait for MPI.
  bool dispatch() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (pending_.empty() || !broken_.empty()) return false;
      for (int w : workers_) {
        const auto& ring = in_flight_[static_cast<std::size_t>(w)];
        std::size_t room = ring.capacity() - ring.size();
        const std::size_t first = outgoing_.size();
        while (room > 0 && !pending_.empty()) {
          auto state = std::move(pending_.front());
          pending_.pop_front();
          if (!state->try_start()) continue;  // cancelled while it waited
          outgoing_.push_back(std::move(state));
          ++in_flight_count_;  // under mutex_: see idle()
          --room;
        }
        if (outgoing_.size() > first) batches_.push_back({w, outgoing_.size() - first});
        if (pending_.empty()) break;
      }
    }
    if (batches_.empty()) return false;
    std::size_t at = 0;
    for (const auto& b : batches_) {
      send_calls(b.worker, at, b.count);
      at += b.count;
    }
    outgoing_.clear();
    batches_.clear();
    return true;
  }

  // Sends a worker calls outgoing_[at, at + count): one call item as it is,
  // several concatenated. A call with blocks goes alone, its blocks right
  // after it, so a worker that could not read a call's blocks can drop them.
  void send_calls(int worker, std::size_t at, std::size_t count) {
    const std::size_t end = at + count;
    while (at < end) {
      std::size_t run = at;
      while (run < end && !wire::has_blocks(outgoing_[run]->call_item())) ++run;
      if (run == at) {
        send_with_blocks(worker, outgoing_[at]);
        ++at;
      } else {
        send_items(worker, at, run - at);
        at = run;
      }
    }
  }

  void send_items(int worker, std::size_t at, std::size_t count) {
    auto& ring = in_flight_[static_cast<std::size_t>(worker)];
    if (count == 1) {
      auto& state = outgoing_[at];
      std::string item = std::move(state->call_item());
      ring.push(wire::call_id(item), std::move(state));
      outbox_.send(worker, wire::call_tag, std::move(item));  // no copy
      return;
    }
    std::size_t size = 0;
    for (std::size_t i = at; i < at + count; ++i) size += outgoing_[i]->call_item().size();
    std::string message;
    message.reserve(size);
    for (std::size_t i = at; i < at + count; ++i) {
      std::string item = std::move(outgoing_[i]->call_item());
      message += item;
      ring.push(wire::call_id(item), std::move(outgoing_[i]));
    }
    outbox_.send(worker, wire::call_tag, std::move(message));
  }

  // The item, then each block, from the buffer submit() filled: no copy.
  void send_with_blocks(int worker, std::shared_ptr<state_base>& state) {
    std::string buffer = std::move(state->call_item());
    const std::size_t item_size = wire::split_blocks(buffer, blocks_);
    segments_.clear();
    segments_.push_back({0, item_size, wire::call_tag});
    for (const auto& b : blocks_) segments_.push_back({b.offset, b.size, wire::arg_block_tag});
    in_flight_[static_cast<std::size_t>(worker)].push(wire::call_id(buffer), std::move(state));
    outbox_.send(worker, std::move(buffer), segments_.data(), segments_.size());
  }

  bool stop_workers_when_done() {
    if (stop_sent_) {
      if (outbox_.empty()) finish_loop();
      return false;
    }
    if (!shutting_down_.load()) return false;  // the usual case, without the lock
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!pending_.empty()) return false;
      if (in_flight_count_ > 0 && broken_.empty()) return false;
    }
    for (int w : workers_) outbox_.send(w, wire::stop_tag, std::string());
    stop_sent_ = true;
    return true;
  }

  void fail_in_flight(const std::string& why) {
    break_pool(why);
    const auto error = std::make_exception_ptr(broken_executor(why));
    std::vector<std::shared_ptr<state_base>> lost;
    for (auto& ring : in_flight_) ring.drain(lost);
    // Calls taken for sending when MPI failed, not yet in a ring.
    for (auto& state : outgoing_) {
      if (state) lost.push_back(std::move(state));
    }
    outgoing_.clear();
    batches_.clear();
    in_flight_count_ = 0;
    for (auto& state : lost) state->set_exception(error);
  }

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
  // Owned by whoever runs step(): the loop thread, or the holder of drive_mutex_.
  std::vector<call_ring> in_flight_;  // per rank, in the order the calls were sent
  std::vector<std::shared_ptr<state_base>>
      outgoing_;  // dispatch()'s scratch, kept for its capacity
  struct batch {
    int worker;
    std::size_t count;
  };
  std::vector<batch> batches_;                   // likewise
  std::vector<wire::block_span> blocks_;         // send_with_blocks()'s scratch
  std::vector<outbox::segment> segments_;        // likewise
  std::atomic<std::size_t> in_flight_count_{0};  // raised under mutex_, for idle()'s predicate
  std::atomic<std::uint64_t> busy_steps_{0};     // steps that did something, by any thread
  std::atomic<int> drivers_{0};                  // waiting threads driving the loop now
  std::atomic<std::int64_t> last_driven_{0};     // when a waiter last stopped driving (ns)
  static constexpr std::chrono::microseconds recent_drive{200};
  std::condition_variable aside_;  // the background thread waits here for them
  bool stop_sent_ = false;
  std::atomic<bool> finished_{false};
  bool threaded_ = false;
  std::mutex drive_mutex_;
  std::mutex join_mutex_;
  std::thread thread_;
};

}  // namespace

std::shared_ptr<executor_core> make_mpi_core(const boost::mpi::communicator& comm,
                                             const options& opts) {
  return std::make_shared<mpi_core>(comm, opts);
}

}  // namespace rankpool::detail
