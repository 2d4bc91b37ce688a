// A one-rank executor: calls run on threads of this process, through the
// same encode -> run_call -> decode path as on MPI workers, so arguments are
// copied and errors reported exactly as with real workers.
#include "local_core.hpp"

#include "run_call.hpp"

#include <thread>
#include <vector>

namespace rankpool::detail {
namespace {

class local_core final : public executor_core {
 public:
  local_core(const options& opts, int threads) : initializer_(opts.initializer) {
    site_.rank = 0;
    site_.host = this_host();
    threads_.reserve(static_cast<std::size_t>(threads));
    for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { serve(); });
  }

  ~local_core() override { shutdown(true, false); }

 private:
  void join() override {
    std::lock_guard<std::mutex> lock(join_mutex_);
    for (auto& t : threads_) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
  }

  bool initialize() {
    const auto error = run_initializer(initializer_, site_);
    if (!error) return true;
    break_pool("rankpool: the initializer '" + initializer_.name() +
               "' failed on a local worker thread: " + error->message);
    return false;
  }

  void serve() {
    if (!initialize()) return;
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
      if (!work.state->try_start()) continue;  // cancelled while queued
      std::string reply;
      run_call(wire::reader(work.call_item).next_call(), site_, reply);
      const auto result = wire::reader(reply).next_result();
      complete(*work.state, result, std::move(reply));
    }
  }

  rankpool::initializer initializer_;
  call_site site_;
  std::mutex join_mutex_;
  std::vector<std::thread> threads_;
};

}  // namespace

std::shared_ptr<executor_core> make_local_core(const options& opts, int threads) {
  return std::make_shared<local_core>(opts, threads);
}

}  // namespace rankpool::detail
