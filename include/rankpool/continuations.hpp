// rankpool::when_all and rankpool::when_any: one future for a group of
// futures. future<T>::then() is in future.hpp (and executor.hpp).
#pragma once

#include "rankpool/future.hpp"
#include "rankpool/wait.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace rankpool {

/// @brief What when_any()'s future holds: which input ended first, and every input.
template <class T>
struct when_any_result {
  /// @brief The position in futures of the first one that ended (finished, failed or
  /// cancelled); std::size_t(-1) for an empty input.
  std::size_t index = static_cast<std::size_t>(-1);
  /// @brief The inputs, in input order.
  std::vector<future<T>> futures;
};

/// @brief A future that ends once every one of @p futures has ended, however it ended.
///
/// Its get() returns the futures, each holding its own outcome, and never rethrows their
/// errors. Ready at once for an empty input. It holds no thread: the last input to end
/// completes it.
/// @code
/// std::vector<rankpool::future<double>> fs;
/// for (int i = 0; i < 8; ++i) fs.push_back(pool.submit(work, i, std::vector<double>{1}));
/// rankpool::future<std::vector<rankpool::future<double>>> all = rankpool::when_all(fs);
/// for (const auto& f : all.get()) if (!f.exception()) use(f.get());
/// @endcode
/// @param futures Futures, all valid.
template <class T>
future<std::vector<future<T>>> when_all(std::vector<future<T>> futures) {
  using group = std::vector<future<T>>;
  auto out = std::make_shared<detail::state<group>>(detail::driver_of(futures));
  if (futures.empty()) {
    out->set_local(group{});
    return detail::future_access::make(std::move(out));
  }
  // Each input's callback holds the gathering (and so the inputs) until it
  // has run; the last one hands the inputs to the result.
  struct gathering {
    std::atomic<std::size_t> left;
    group inputs;
  };
  auto g = std::make_shared<gathering>();
  g->left.store(futures.size());
  g->inputs = futures;
  for (const auto& f : futures) {
    detail::future_access::state_of(f).on_done([g, out] {
      if (g->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
        out->set_local(std::move(g->inputs));
    });
  }
  return detail::future_access::make(std::move(out));
}

/// @brief A future that ends once any of @p futures has ended (finished, failed or
/// cancelled); it holds that one's index and all the futures.
///
/// Its get() never rethrows the inputs' errors. Ready at once for an empty input, with
/// index std::size_t(-1). It holds no thread: the first input to end completes it.
/// @code
/// auto any = rankpool::when_any(fs).get();
/// double first = any.futures[any.index].get();
/// @endcode
/// @param futures Futures, all valid.
template <class T>
future<when_any_result<T>> when_any(std::vector<future<T>> futures) {
  auto out = std::make_shared<detail::state<when_any_result<T>>>(detail::driver_of(futures));
  if (futures.empty()) {
    out->set_local(when_any_result<T>{});
    return detail::future_access::make(std::move(out));
  }
  // The first input to end takes the inputs out of the race: later
  // callbacks hold only the flag.
  struct race {
    std::atomic<bool> won{false};
    std::vector<future<T>> inputs;
  };
  auto r = std::make_shared<race>();
  r->inputs = futures;
  for (std::size_t i = 0; i < futures.size(); ++i) {
    detail::future_access::state_of(futures[i]).on_done([r, out, i] {
      if (!r->won.exchange(true, std::memory_order_acq_rel)) {
        out->set_local(when_any_result<T>{i, std::move(r->inputs)});
      }
    });
  }
  return detail::future_access::make(std::move(out));
}

}  // namespace rankpool
