#include "core.hpp"

#include "codec.hpp"
#include "rankpool/errors.hpp"

namespace rankpool::detail {

void executor_core::submit(std::shared_ptr<state_base> state, const std::string& name,
                           std::string payload, std::uint32_t count, bool chunk) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!broken_.empty()) throw broken_executor(broken_);
    if (shutting_down_) throw std::runtime_error("rankpool: cannot submit after shutdown()");
    pending_.push_back(work_item{next_id_++, std::move(state), &name, std::move(payload), count,
                                 chunk ? wire::chunk_flag : std::uint8_t{0}});
  }
  on_submit();
}

void executor_core::shutdown(bool wait, bool cancel_futures) {
  std::deque<work_item> cancelled;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutting_down_ = true;
    if (cancel_futures) cancelled.swap(pending_);
  }
  // Cancelling notifies waiters and runs callbacks: do it without the lock.
  for (auto& item : cancelled) item.state->cancel();
  on_submit();
  if (wait) join();
}

void executor_core::complete(state_base& state, call_outcome outcome) {
  if (outcome.ok) {
    state.set_payload(std::move(outcome.payload));
    return;
  }
  std::exception_ptr error;
  try {
    const auto info = wire::decode_error_info(outcome.payload);
    error =
        std::make_exception_ptr(remote_error(info.message, info.type_name, info.rank, info.host));
  } catch (const std::exception& e) {
    error = std::make_exception_ptr(broken_executor(
        std::string("rankpool: a worker sent an undecodable error report: ") + e.what()));
  }
  state.set_exception(error);
}

void executor_core::break_pool(const std::string& reason) {
  std::deque<work_item> failed;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (broken_.empty()) broken_ = reason;
    failed.swap(pending_);
  }
  const auto error = std::make_exception_ptr(broken_executor(reason));
  for (auto& item : failed) item.state->set_exception(error);
}

}  // namespace rankpool::detail
