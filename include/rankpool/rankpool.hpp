// rankpool: a concurrent.futures-style executor over MPI. The one header to include.
#pragma once

// Serialization support for the standard types that calls commonly take and return.
#include <boost/serialization/array.hpp>
#include <boost/serialization/complex.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/list.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/unordered_map.hpp>
#include <boost/serialization/unordered_set.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include "rankpool/continuations.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/executor.hpp"
#include "rankpool/future.hpp"
#include "rankpool/lazy_map.hpp"
#include "rankpool/map_result.hpp"
#include "rankpool/options.hpp"
#include "rankpool/stats.hpp"
#include "rankpool/wait.hpp"
