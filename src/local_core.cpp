// A one-rank executor: calls run on threads of this process, through the
// same encode -> run_call -> decode path as on MPI workers, so arguments are
// copied and errors reported exactly as with real workers.
#include "core.hpp"

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
               "' failed on a local worker thread: " + wire::decode_error_info(*error).message);
    return false;
  }

  void serve() {
    if (!initialize()) return;
    for (;;) {
      std::shared_ptr<state_base> state;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ++sleepers_;
        wake_.wait(lock,
                   [this] { return !pending_.empty() || shutting_down_ || !broken_.empty(); });
        --sleepers_;
        if (pending_.empty()) return;  // shutting down (or broken) with nothing left
        state = std::move(pending_.front());
        pending_.pop_front();
      }
      if (!state->try_start()) continue;  // cancelled while queued
      const std::string item = std::move(state->call_item());
      std::string reply;
      run_call(wire::reader(item).next_call(), site_, reply);
      const auto result = wire::reader(reply).next_result();
      complete(*state, result, std::move(reply));
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
