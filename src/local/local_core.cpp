// A one-rank executor: calls run on threads of this process, through the
// same encode -> run_call -> decode path as on MPI workers, so arguments are
// copied and errors reported exactly as with real workers. With isolation,
// each thread runs its calls in its own call process.
#include "local/local_core.hpp"

#include "isolation/call_process.hpp"
#include "worker/run_call.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

namespace rankpool::detail {
namespace {

class local_core final : public executor_core {
 public:
  local_core(const options& opts, int threads)
      : executor_core(opts),
        initializer_(opts.initializer),
        limits_(pool_limits(opts)),
        running_(static_cast<std::size_t>(threads)) {
    site_.rank = 0;
    site_.host = this_host();
    threads_.reserve(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) {
      threads_.emplace_back([this, i] { serve(running_[static_cast<std::size_t>(i)]); });
    }
  }

  ~local_core() override { shutdown(true, false); }

 private:
  // What one thread runs now, for terminate(); and its share of the calls, for stats().
  struct slot {
    std::shared_ptr<state_base> state;  // guarded by running_mutex_
    std::atomic<bool> terminate{false};
    worker_tally tally;
  };

  void add_worker_stats(std::vector<worker_stats>& out) const override {
    for (std::size_t i = 0; i < running_.size(); ++i) {
      out.push_back(running_[i].tally.to_stats(static_cast<int>(i), site_.host));
    }
  }

  // The thread's side of its call process: there are no blocks locally.
  class slot_owner final : public call_owner {
   public:
    explicit slot_owner(slot& s) : s_(s) {}
    void receive_block(char*, std::size_t) override {
      throw std::length_error("rankpool: a local call announces an argument block");
    }
    bool terminate_requested(std::uint64_t) override { return s_.terminate.exchange(false); }

   private:
    slot& s_;
  };

  void join() override {
    std::lock_guard<std::mutex> lock(join_mutex_);
    for (auto& t : threads_) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
  }

  // A terminate request stops the thread's call if it is still running it.
  void on_terminate() override {
    std::vector<std::shared_ptr<state_base>> requests;
    const bool all = take_terminations(requests);
    std::lock_guard<std::mutex> lock(running_mutex_);
    for (auto& s : running_) {
      if (!s.state) continue;
      if (all || std::find(requests.begin(), requests.end(), s.state) != requests.end()) {
        s.terminate.store(true);
      }
    }
  }

  bool initialize(std::unique_ptr<call_process>& process) {
    auto error = run_initializer(initializer_, site_);
    if (!error && isolated_calls()) {
      try {
        process = call_process::make_started(site_, /*blocks=*/false);
      } catch (const std::exception& e) {
        break_pool(std::string("rankpool: a local worker thread ") + e.what());
        return false;
      }
    }
    if (!error) return true;
    break_pool("rankpool: the initializer '" + initializer_.name() +
               "' failed on a local worker thread: " + error->message);
    return false;
  }

  void serve(slot& mine) {
    std::unique_ptr<call_process> process;
    if (!initialize(process)) return;
    for (;;) {
      work_item work;
      {
        std::unique_lock<std::mutex> lock(queue_.mutex);
        ++queue_.sleepers;
        queue_.wake.wait(lock, [this] {
          return !queue_.items.empty() || queue_.shutting_down || !queue_.broken.empty();
        });
        --queue_.sleepers;
        if (queue_.items.empty()) return;  // shutting down (or broken) with nothing left
        work = std::move(queue_.items.front());
        queue_.items.pop_front();
      }
      if (process) {
        // Known as running before it starts, so a terminate() that finds it
        // started also finds it here.
        std::lock_guard<std::mutex> lock(running_mutex_);
        mine.state = work.state;
        mine.terminate.store(false);
      }
      if (work.state->try_start()) {
        const auto started = loop_clock::now();
        record_start(work.submitted, started);
        std::string reply;
        const auto item = wire::reader(work.call_item).next_call();
        if (process) {
          slot_owner owner(mine);
          process->run(item, limits_for(item, limits_), owner, reply);
        } else {
          run_call(item, site_, reply);
        }
        const auto result = wire::reader(reply).next_result();
        mine.tally.call_ended(loop_clock::now() - started, !result.ok());
        complete(*work.state, result, std::move(reply));
      }
      if (process) {
        std::lock_guard<std::mutex> lock(running_mutex_);
        mine.state.reset();
      }
    }
  }

  rankpool::initializer initializer_;
  run_limits limits_;
  call_site site_;
  std::mutex join_mutex_;
  std::mutex running_mutex_;
  std::vector<slot> running_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::shared_ptr<executor_core> make_local_core(const options& opts, int threads) {
  return std::make_shared<local_core>(opts, threads);
}

}  // namespace rankpool::detail
