// The call encoders: how submit(), map() and imap() turn a callable and its
// arguments into call items, on the submitting thread, in the buffer that is
// later sent (see call_item.hpp for the layout, args_codec.hpp for the
// arguments).
#pragma once

#include "rankpool/detail/args_codec.hpp"
#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/registry.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool::detail {

// The call item for f(args...). It is encoded on the caller's thread, in
// the buffer that is later sent: header, then the arguments, then its
// length. Header plus the arguments when known: one allocation of the
// right size, from the pool when large. With remote workers, large
// contiguous arguments go as blocks (see wire::block_min).
template <class F, class... A>
std::string encode_call(bool remote_workers, const wire::call_limits* limits, const F& f,
                        A&&... args) {
  const std::string& name = name_of<F>(f);
  std::string item = acquire_buffer(wire::call_header::size(name.size(), limits != nullptr) +
                                    args_writer<F>::size_hint(args...));
  item.clear();
  const auto length_at =
      limits ? wire::begin_call(item, name, 0, 1, *limits) : wire::begin_call(item, name, 0, 1);
  std::vector<wire::pending_block> blocks;
  args_writer<F>(item, f, remote_workers ? &blocks : nullptr).add(std::forward<A>(args)...);
  if (blocks.empty()) {
    wire::end_call(item, length_at);
  } else {
    wire::end_call_with_blocks(item, length_at, blocks);
  }
  return item;
}

// One call item for the next chunk of inputs from `it` (advanced past
// them): the function object's state once, then each input's arguments.
template <class F, class It, class Last, class Save>
std::string encode_chunk(const std::string& name, const F& f, It& it, const Last& last,
                         std::size_t chunksize, Save& save_one, std::size_t& expected_size,
                         std::uint32_t& count) {
  std::string item = acquire_buffer(expected_size);
  item.clear();
  count = 0;
  const auto length_at = wire::begin_call(item, name, wire::chunk_flag, 1);
  {
    args_writer<F> out(item, f);
    if constexpr (std::is_same_v<Save, bulk_save>) {
      count = static_cast<std::uint32_t>(
          std::min<std::size_t>(chunksize, static_cast<std::size_t>(last - it)));
      out.add_scalars(&*it, count);
      it += count;
    } else {
      for (; it != last && count < chunksize; ++it, ++count) save_one(out, *it);
    }
  }
  wire::end_call(item, length_at);
  wire::set_call_count(item, count);
  expected_size = item.size();
  return item;
}

}  // namespace rankpool::detail
