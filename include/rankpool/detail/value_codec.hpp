// Values <-> bytes: how call arguments and results become bytes. Values of "raw" types
// (arithmetic, enums, std::string, vectors of arithmetic) are copied as
// plain bytes with no Boost archive, whose set-up alone costs about a
// microsecond per archive; everything else goes through one Boost binary
// archive. The choice depends only on the types, so the root and the
// worker always agree:
//   arguments: raw if the callable is a function and all its parameters are raw;
//   a result:  raw if its type is raw;
//   a chunk:   a u32 count, then the results (raw, or one archive for all).
// Raw layout: arithmetic values as their bytes; strings and vectors as a u64
// element count, then the elements' bytes. Lengths are checked against the
// bytes present before anything is allocated.
//
// Each part has its own header: raw_codec.hpp (raw values), call_blocks.hpp
// (what a call exchanges as blocks), args_codec.hpp (arguments),
// result_codec.hpp (results and map() chunks). This one includes them all.
#pragma once

#include "rankpool/detail/args_codec.hpp"
#include "rankpool/detail/call_blocks.hpp"
#include "rankpool/detail/raw_codec.hpp"
#include "rankpool/detail/result_codec.hpp"
