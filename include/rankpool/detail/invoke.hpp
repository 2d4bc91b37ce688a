// Running a call on a worker: decode the arguments, call, encode the result.
// The registry (registry.hpp) maps each name to one of these invokers; the
// worker side (src/worker/run_call.cpp) calls it for every call item it receives.
#pragma once

#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/traits.hpp"
#include "rankpool/detail/value_codec.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

namespace rankpool::detail {

// Which step of a call was running when it threw, for the error message.
enum class call_phase { decoding, calling, encoding };

// Runs `count` calls: reads the callable's state (function objects only) once,
// then `count` argument lists from `in`, appending each result to `out`. With
// `blocks` given (a single call on a worker), argument blocks are received
// through it and a large contiguous result is moved into it, not appended.
using invoker_fn = void (*)(std::string_view in, std::string& out, std::uint32_t count,
                            call_phase& phase, call_blocks* blocks);

// Moves `result` into `block` when it is large enough to travel as one.
template <class R>
bool take_block(R& result, result_block& block) {
  if constexpr (is_contiguous_raw_v<R>) {
    const std::size_t bytes = result.size() * sizeof(typename R::value_type);
    if (bytes < wire::block_min) return false;
    auto held = std::make_shared<R>(std::move(result));
    block.data = held->data();
    block.bytes = bytes;
    block.keep_alive = std::move(held);
    return true;
  } else {
    (void)result;
    (void)block;
    return false;
  }
}

// A callable of one raw scalar (not bool) returning one: a map() chunk of
// it is a run of inputs and a run of results, copied in batches rather than
// decoded and encoded one value at a time.
template <class F, class = void>
struct scalar_chunk : std::false_type {};
template <class F>
struct scalar_chunk<F,
                    std::enable_if_t<raw_arguments_v<F> &&
                                     std::tuple_size_v<typename callable_traits<F>::params> == 1>> {
  using param = std::decay_t<std::tuple_element_t<0, typename callable_traits<F>::params>>;
  using result = std::remove_cv_t<typename callable_traits<F>::result>;
  static constexpr bool value = is_scalar_raw_v<param> && !std::is_same_v<param, bool> &&
                                is_scalar_raw_v<result> && !std::is_same_v<result, bool>;
};
template <class F>
inline constexpr bool scalar_chunk_v = scalar_chunk<F>::value;

template <class F, class Call>
void run_scalar_chunk(args_reader<F>& args, Call&& call, std::string& out, std::uint32_t count,
                      call_phase& phase) {
  using P = typename scalar_chunk<F>::param;
  using R = typename scalar_chunk<F>::result;
  phase = call_phase::decoding;
  const char* in = args.scalars(count, sizeof(P));
  args.expect_end();
  raw_writer results(out);
  constexpr std::uint32_t batch = 64;
  P inputs[batch];
  R outputs[batch];
  for (std::uint32_t done = 0; done < count;) {
    const std::uint32_t n = std::min(batch, count - done);
    std::memcpy(inputs, in + std::size_t{done} * sizeof(P), n * sizeof(P));
    phase = call_phase::calling;
    for (std::uint32_t i = 0; i < n; ++i) outputs[i] = call(inputs[i]);
    results.put_bytes(outputs, n * sizeof(R));  // what n put(outputs[i]) would write
    done += n;
  }
  phase = call_phase::decoding;
}

template <class F, class Call>
void run_calls(args_reader<F>& args, Call&& call, std::string& out, std::uint32_t count,
               call_phase& phase, call_blocks* blocks) {
  using R = std::remove_cv_t<typename callable_traits<F>::result>;
  if constexpr (scalar_chunk_v<F>) {
    if (count > 1) return run_scalar_chunk<F>(args, call, out, count, phase);
  }
  result_writer<std::conditional_t<std::is_void_v<R>, int, R>> results(out);
  for (std::uint32_t i = 0; i < count; ++i) {
    phase = call_phase::decoding;
    auto a = args.next();
    if (i + 1 == count) args.expect_end();  // before the last call runs
    phase = call_phase::calling;
    if constexpr (std::is_void_v<R>) {
      std::apply(call, std::move(a));
      if (blocks != nullptr) keep_blocks(a);
    } else {
      R result = std::apply(call, std::move(a));
      if (blocks != nullptr) keep_blocks(a);  // the arguments' memory, for the next blocks
      phase = call_phase::encoding;
      if (count == 1 && blocks != nullptr && take_block(result, blocks->result)) continue;
      results.put(result);
    }
  }
  phase = call_phase::decoding;
}

template <auto F>
void invoke_function(std::string_view in, std::string& out, std::uint32_t count, call_phase& phase,
                     call_blocks* blocks) {
  args_reader<decltype(F)> args(in, blocks);
  run_calls<decltype(F)>(args, F, out, count, phase, blocks);
}

template <class T>
void invoke_object(std::string_view in, std::string& out, std::uint32_t count, call_phase& phase,
                   call_blocks* blocks) {
  args_reader<T> args(in, blocks);
  const T object = args.object();
  run_calls<T>(args, object, out, count, phase, blocks);
}

}  // namespace rankpool::detail
