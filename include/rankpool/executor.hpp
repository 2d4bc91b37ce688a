// rankpool::executor: rank `root` of a communicator runs calls on the other ranks.
#pragma once

#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/detail/call_encoder.hpp"
#include "rankpool/detail/call_item.hpp"
#include "rankpool/detail/loop_driver.hpp"
#include "rankpool/detail/map_chunk.hpp"
#include "rankpool/detail/registry.hpp"
#include "rankpool/detail/state.hpp"
#include "rankpool/detail/value_codec.hpp"
#include "rankpool/errors.hpp"
#include "rankpool/future.hpp"
#include "rankpool/lazy_map.hpp"
#include "rankpool/map_result.hpp"
#include "rankpool/options.hpp"
#include "rankpool/stats.hpp"

#include <boost/mpi/communicator.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace rankpool {

namespace detail {

class executor_core;
class spawned_workers;
struct spawned_pool;
struct executor_access;  // tests only (tests/support/executor_access.hpp)

}  // namespace detail

/// @brief Runs calls of registered callables on the ranks of a communicator, like Python's
/// concurrent.futures.Executor.
///
/// Rank options::root submits; every other rank is a worker. With a one-rank communicator
/// calls run on local threads instead.
class executor {
 public:
  /// @brief Makes the pool. Collective over @p comm: call it on every rank with the same
  /// options.
  ///
  /// On the root it returns at once; on every other rank it serves calls and returns after
  /// the root shuts the pool down, with an executor that is false.
  /// @code
  /// boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  /// boost::mpi::communicator comm;
  /// rankpool::options opts;
  /// rankpool::executor pool(comm, opts);
  /// if (!pool) return 0;  // a worker rank: the root has shut the pool down
  /// @endcode
  /// @param comm The ranks of the pool (MPI_COMM_WORLD by default); with more than one
  ///             rank the executor talks on a private duplicate of it.
  /// @param opts Options, the same on every rank.
  /// @throws std::logic_error if MPI is not initialized.
  /// @throws std::invalid_argument (on every rank) if the options are invalid on any rank.
  explicit executor(const boost::mpi::communicator& comm = {}, options opts = {});
  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;

  /// @brief Starts @p workers new processes with MPI_Comm_spawn and returns a pool whose
  /// workers they are; this process is its root. Not collective: call it on one rank (or
  /// in a program started without mpirun).
  ///
  /// By default the workers run this same program with the same arguments: every path
  /// through main() must reach the same spawn() call (or a rankpool::executor), where a
  /// spawned copy serves the pool and gets an executor that is false. A separate worker
  /// program (@p program) calls rankpool::serve() instead. The workers take this
  /// process's @p opts (sent at start-up), not their own. The pool's communicator (comm())
  /// has this process as rank 0 and the workers as 1..workers. Shutting the pool down
  /// releases the workers, which then return from their spawn() call.
  /// @code
  /// boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  /// auto pool = rankpool::executor::spawn(4);  // 4 copies of this program
  /// if (!pool) return 0;                       // a spawned copy: it has served; now it ends
  /// auto f = pool.submit(work, 3, std::vector<double>{1, 2});
  /// @endcode
  /// With Open MPI a program started without mpirun, or an allocation without free slots,
  /// needs OMPI_MCA_rmaps_base_oversubscribe=1 (or mpirun --oversubscribe, or a hostfile
  /// with slots): see docs/embedding.md.
  /// @param workers How many worker processes, at least 1.
  /// @param opts The pool's options (options::root is ignored: this process is root).
  /// @param program The worker program; empty: this program, with this program's arguments.
  /// @param args The worker program's arguments (without its name).
  /// @throws std::invalid_argument if @p workers < 1, @p program cannot be run, or the
  ///         options are invalid.
  /// @throws std::runtime_error if MPI could not start the workers (the message says why).
  static executor spawn(int workers, options opts = {}, std::string program = {},
                        std::vector<std::string> args = {});

  /// @brief Takes over the other executor's pool.
  executor(executor&&) noexcept = default;
  /// @brief Shuts this pool down as the destructor does, then takes the other executor's.
  ///
  /// On several ranks, shut this pool down before constructing the new one
  /// (`pool.shutdown(false); pool = executor(comm);`): construction is collective, and
  /// until then the workers still serve this pool.
  executor& operator=(executor&&) noexcept;
  /// @brief shutdown(true): waits for every call, queued or running, to end (and their
  /// done callbacks to run), then releases the workers.
  ~executor();

  /// @brief True on the root, the rank that submits calls; false on a worker rank.
  explicit operator bool() const noexcept { return is_root_; }
  /// @brief True on the root, the rank that submits calls; false on a worker rank.
  bool is_root() const noexcept { return is_root_; }
  /// @brief Ranks (or local threads for a one-rank communicator) that run calls.
  int max_workers() const noexcept { return max_workers_; }
  /// @brief The communicator the executor was made with.
  const boost::mpi::communicator& comm() const noexcept { return comm_; }

  /// @brief Schedules f(args...) on a worker; only on the root.
  ///
  /// The arguments are converted to @p f's parameter types and serialized here, before
  /// submit() returns. @p f must be registered (RANKPOOL_REGISTER, RANKPOOL_REGISTER_AS,
  /// RANKPOOL_REGISTER_TYPE) on every rank.
  /// @code
  /// double work(int i, std::vector<double> v) { return i * v.at(0); }
  /// RANKPOOL_REGISTER(work);
  ///
  /// rankpool::future<double> f = pool.submit(work, 3, std::vector<double>{1, 2});
  /// double x = f.get();  // 3
  /// @endcode
  /// @return A future for the call's result.
  /// @throws std::invalid_argument if @p f was never registered.
  /// @throws std::runtime_error after shutdown() or on a worker rank.
  /// @throws broken_executor if the pool is broken.
  template <class F, class... A>
  future<detail::result_of_t<F>> submit(F&& f, A&&... args) {
    return submit_impl(nullptr, std::forward<F>(f), std::forward<A>(args)...);
  }

  /// @brief As submit(), with limits for this call that override the pool's; only on the
  /// root, and only for a pool made with options::isolation = isolation::process.
  /// @code
  /// rankpool::call_options c;
  /// c.timeout = std::chrono::milliseconds(500);
  /// c.memory_limit = std::size_t{1} << 30;
  /// auto f = pool.submit_with(c, work, 3, std::vector<double>{1, 2});
  /// // f.get() throws rankpool::call_timed_out if work ran past 500 ms
  /// @endcode
  /// @throws std::invalid_argument if @p c sets a limit on a pool without isolation, or a
  ///         negative timeout; otherwise as submit().
  template <class F, class... A>
  future<detail::result_of_t<F>> submit_with(const call_options& c, F&& f, A&&... args) {
    const auto limits = call_limits_of(c);
    return submit_impl(limits ? &*limits : nullptr, std::forward<F>(f), std::forward<A>(args)...);
  }

  /// @brief Schedules f(x) for each x of @p inputs, @p chunksize inputs per message to a
  /// worker; only on the root.
  ///
  /// Every chunk is submitted before map() returns; the results come back in input order.
  /// A larger chunksize saves messages when calls are short.
  /// @code
  /// double square(double x) { return x * x; }
  /// RANKPOOL_REGISTER(square);
  ///
  /// std::vector<double> xs(1000, 2.0);
  /// double total = 0;
  /// for (double y : pool.map(square, xs, /*chunksize=*/64)) total += y;
  /// @endcode
  /// @param f A registered callable that takes one argument and returns a value.
  /// @param inputs A range of arguments.
  /// @param chunksize Inputs per message, at least 1.
  /// @throws std::invalid_argument if @p chunksize is 0 or too large, or @p f was never
  ///         registered; otherwise as submit().
  template <class F, class Range>
  map_result<detail::result_of_t<F>> map(F&& f, const Range& inputs, std::size_t chunksize = 1) {
    using fn = std::decay_t<F>;
    if constexpr (detail::bulk_inputs_v<fn, Range>) {
      // Contiguous inputs of the parameter's own arithmetic type: a chunk's
      // arguments are its inputs' bytes, copied at once.
      return map_impl(f, inputs, chunksize, detail::bulk_save{});
    } else {
      return map_impl(f, inputs, chunksize, [](auto& out, const auto& x) { out.add(x); });
    }
  }

  /// @brief As map(), but lazy and bounded: reads @p inputs and submits their chunks only
  /// as the results are consumed; only on the root.
  ///
  /// At most @p buffersize chunks are submitted and not yet consumed, so a map over any
  /// number of inputs (an input iterator, a generator, a file) holds bounded memory. The
  /// results come in input order; a failed call rethrows when its result is reached.
  /// Leaving the loop early cancels the chunks not yet started. An rvalue @p inputs is
  /// kept by the result; an lvalue must outlive the iteration, as must the pool.
  /// @code
  /// std::ifstream in("numbers.txt");
  /// auto numbers = boost::make_iterator_range(std::istream_iterator<double>(in),
  ///                                           std::istream_iterator<double>());
  /// for (double y : pool.imap(square, numbers, /*chunksize=*/16, /*buffersize=*/64)) use(y);
  /// @endcode
  /// @param f A registered callable that takes one argument and returns a value.
  /// @param inputs Any range with std::begin/std::end, read once, front to back.
  /// @param chunksize Inputs per message, at least 1.
  /// @param buffersize Chunks submitted and not yet consumed, at most; 0 (the default)
  ///        means 2 × max_workers().
  /// @throws std::invalid_argument if @p chunksize is 0 or too large, or @p f was never
  ///         registered; otherwise as submit().
  template <class F, class Range>
  lazy_map<detail::result_of_t<F>> imap(F&& f, Range&& inputs, std::size_t chunksize = 1,
                                        std::size_t buffersize = 0) {
    return lazy_map_impl(true, f, std::forward<Range>(inputs), chunksize, buffersize);
  }

  /// @brief As imap(), but yields the results as their chunks finish, not in input order
  /// (within a chunk, in input order).
  /// @code
  /// for (double y : pool.imap_unordered(square, numbers, 16, 64)) total += y;
  /// @endcode
  template <class F, class Range>
  lazy_map<detail::result_of_t<F>> imap_unordered(F&& f, Range&& inputs, std::size_t chunksize = 1,
                                                  std::size_t buffersize = 0) {
    return lazy_map_impl(false, f, std::forward<Range>(inputs), chunksize, buffersize);
  }

  /// @brief As map(), but calls std::apply(f, t) for each tuple (or pair) t of @p inputs.
  /// @code
  /// double add(double a, double b) { return a + b; }
  /// RANKPOOL_REGISTER(add);
  ///
  /// std::vector<std::tuple<double, double>> pairs{{1.0, 2.0}, {3.0, 4.0}};
  /// std::vector<double> sums = pool.starmap(add, pairs).get();  // {3, 7}
  /// @endcode
  template <class F, class Range>
  map_result<detail::result_of_t<F>> starmap(F&& f, const Range& inputs,
                                             std::size_t chunksize = 1) {
    return map_impl(f, inputs, chunksize, [](auto& out, const auto& t) {
      std::apply([&out](const auto&... a) { out.add(a...); }, t);
    });
  }

  /// @brief As map(), with a time limit, like Python's Executor.map(fn, inputs, timeout=...).
  ///
  /// Iterating, at() and get() throw timeout_error when the next result has not arrived
  /// @p timeout after this call; at that moment every call not yet started is cancelled.
  /// Results that arrived in time are still read after the deadline.
  /// @code
  /// using namespace std::chrono_literals;
  /// for (double y : pool.map(square, xs, /*chunksize=*/64, /*timeout=*/30s)) use(y);
  /// @endcode
  /// @param timeout Counted from this call; zero or negative: only results already there.
  /// @throws std::invalid_argument if @p timeout is not a number; otherwise as map().
  template <class F, class Range>
  map_result<detail::result_of_t<F>> map(F&& f, const Range& inputs, std::size_t chunksize,
                                         std::chrono::duration<double> timeout) {
    const auto deadline = deadline_after(timeout, "map()");
    return with_deadline(map(std::forward<F>(f), inputs, chunksize), deadline);
  }

  /// @brief As starmap(), with a time limit as map(f, inputs, chunksize, timeout) has.
  /// @code
  /// auto sums = pool.starmap(add, pairs, /*chunksize=*/1, std::chrono::seconds(10)).get();
  /// @endcode
  template <class F, class Range>
  map_result<detail::result_of_t<F>> starmap(F&& f, const Range& inputs, std::size_t chunksize,
                                             std::chrono::duration<double> timeout) {
    const auto deadline = deadline_after(timeout, "starmap()");
    return with_deadline(starmap(std::forward<F>(f), inputs, chunksize), deadline);
  }

  /// @brief Stops accepting calls; later submits throw std::runtime_error. Does nothing on
  /// a worker rank.
  /// @param wait Block until every call has ended and the workers have been released.
  /// @param cancel_futures Cancel calls not yet started.
  /// @code
  /// pool.shutdown(/*wait=*/true, /*cancel_futures=*/true);  // cancel queued calls, wait
  /// @endcode
  void shutdown(bool wait = true, bool cancel_futures = false);

  /// @brief What the pool has done so far: calls submitted, completed, failed, cancelled
  /// and waiting; how long they waited for a worker; each worker's share. Only on the
  /// root. Cheap: counters kept as calls go, read here (the waiting calls are counted
  /// under the queue's lock).
  /// @code
  /// rankpool::pool_stats s = pool.stats();
  /// std::cout << s.completed << " of " << s.submitted << " calls done\n" << s.table();
  /// @endcode
  /// @throws std::runtime_error on a worker rank.
  pool_stats stats() const;

 private:
  friend struct detail::executor_access;

  template <class>
  friend class future;  // then(pool, g)

  template <class F, class... A>
  future<detail::result_of_t<F>> submit_impl(const detail::wire::call_limits* limits, F&& f,
                                             A&&... args) {
    using fn = std::decay_t<F>;
    static_assert(detail::check_callable<fn>());
    return enqueue<detail::result_of_t<F>>(detail::encode_call(
        remote_workers_, limits, static_cast<const fn&>(f), std::forward<A>(args)...));
  }

  // future<T>::then(pool, g): g's future now; g(before's value) submitted
  // once `before` ends well, by a done callback that holds the pool's core
  // weakly (the pool may be gone by then: the call then fails saying so).
  template <class T, class G>
  future<detail::result_of_t<G>> submit_after(std::shared_ptr<detail::state<T>> before, G g) {
    using fn = std::decay_t<G>;
    using R = detail::result_of_t<G>;
    static_assert(detail::check_callable<fn>());
    if constexpr (std::is_void_v<T>) {
      static_assert(std::tuple_size_v<typename detail::callable_traits<fn>::params> == 0,
                    "rankpool: then(pool, g) after a future<void> needs a g without parameters");
    } else {
      static_assert(std::tuple_size_v<typename detail::callable_traits<fn>::params> == 1,
                    "rankpool: then(pool, g) needs a g that takes the earlier call's result");
    }
    if (!core_) throw std::runtime_error("rankpool: then(pool, g) on a worker rank");
    (void)detail::name_of<fn>(g);  // an unregistered g fails here, not later
    auto next = detail::make_state<R>(progress_driver());
    before->on_done([before, next, g = fn(std::move(g)), core = std::weak_ptr(core_),
                     remote = remote_workers_] {
      if (!detail::pass_on_failure(*before, *next)) return;
      try {
        if constexpr (std::is_void_v<T>) {
          enqueue_on(core, next, detail::encode_call(remote, nullptr, g));
        } else {
          enqueue_on(core, next, detail::encode_call(remote, nullptr, g, before->get()));
        }
      } catch (...) {
        next->set_exception(std::current_exception());
      }
    });
    return detail::future_access::make(std::move(next));
  }
  // Queues a call item on `core`; throws if the pool is gone, shut down or broken.
  // (then(pool, g) and imap(): they may outlive this object, not its core.)
  static void enqueue_on(const std::weak_ptr<detail::executor_core>& core,
                         std::shared_ptr<detail::state_base> state, std::string item);

  // A chunk's call count travels as a u32: at least 1, at most UINT32_MAX.
  static void check_chunksize(std::size_t chunksize, const char* what);
  template <class R>
  static map_result<R> with_deadline(map_result<R> result,
                                     std::optional<std::chrono::steady_clock::time_point> d) {
    result.deadline_ = d;
    return result;
  }
  // now + timeout for map(..., timeout); none for a limit past any clock's range.
  static std::optional<std::chrono::steady_clock::time_point> deadline_after(
      std::chrono::duration<double> timeout, const char* what);

  // A call's own limits as its item carries them (unset fields: the pool's);
  // none if @p c sets none. Throws as submit_with() says.
  std::optional<detail::wire::call_limits> call_limits_of(const call_options& c) const;

  template <class R>
  future<R> enqueue(std::string item) {
    auto state = detail::make_state<R>(progress_driver());
    enqueue_state(state, std::move(item));
    return detail::future_access::make(std::move(state));
  }

  template <class F, class Range, class Save>
  map_result<detail::result_of_t<F>> map_impl(const F& f, const Range& inputs,
                                              std::size_t chunksize, Save save_one) {
    using fn = std::decay_t<F>;
    using R = detail::result_of_t<F>;
    static_assert(!std::is_void_v<R>, "rankpool: map() needs a callable that returns a value");
    static_assert(detail::check_callable<fn>());
    check_chunksize(chunksize, "map()");
    const std::string& name = detail::name_of<fn>(f);
    map_result<R> result;
    result.chunksize_ = chunksize;
    auto it = std::begin(inputs);
    const auto last = std::end(inputs);
    // Each chunk's buffer starts as large as the one before it ended, so a
    // chunk is encoded without growing its buffer step by step.
    std::size_t expected_size = 64 + name.size();
    bulk_submission bulk(*this);
    while (it != last) {
      std::uint32_t count = 0;
      std::string item = detail::encode_chunk(name, static_cast<const fn&>(f), it, last, chunksize,
                                              save_one, expected_size, count);
      result.chunks_.push_back(enqueue<detail::chunk<R>>(std::move(item)));
      result.size_ += count;
      bulk.submitted();
    }
    return result;
  }

  // imap()/imap_unordered(): a submitter that reads the next chunk's inputs
  // from a range the lazy map keeps (its own copy of an rvalue range).
  template <class F, class Range>
  lazy_map<detail::result_of_t<F>> lazy_map_impl(bool ordered, const F& f, Range&& inputs,
                                                 std::size_t chunksize, std::size_t buffersize) {
    using fn = std::decay_t<F>;
    using R = detail::result_of_t<F>;
    static_assert(!std::is_void_v<R>, "rankpool: imap() needs a callable that returns a value");
    static_assert(detail::check_callable<fn>());
    if (!core_) throw std::runtime_error("rankpool: imap() on a worker rank");
    check_chunksize(chunksize, "imap()");
    if (buffersize == 0) buffersize = 2 * static_cast<std::size_t>(max_workers_);
    const std::string& name = detail::name_of<fn>(f);
    using stored =
        std::conditional_t<std::is_lvalue_reference_v<Range>, Range, std::decay_t<Range>>;
    struct input {
      stored range;
      decltype(std::begin(std::declval<stored&>())) it;
      decltype(std::end(std::declval<stored&>())) last;
      std::size_t expected_size;
    };
    auto in = std::make_shared<input>(input{std::forward<Range>(inputs), {}, {}, 64 + name.size()});
    in->it = std::begin(in->range);
    in->last = std::end(in->range);
    // The pool is reached through its core, not `this`: the executor object
    // may move while the loop runs.
    auto submit_next = [core = std::weak_ptr<detail::executor_core>(core_), drv = progress_driver(),
                        in, name, f = fn(f), chunksize](detail::lazy_chunk<R>& next) {
      if (in->it == in->last) return false;
      std::uint32_t count = 0;
      auto save_one = [](auto& out, const auto& x) { out.add(x); };
      std::string item;
      if constexpr (detail::bulk_inputs_v<fn, std::decay_t<Range>>) {
        detail::bulk_save bulk;
        item = detail::encode_chunk(name, f, in->it, in->last, chunksize, bulk, in->expected_size,
                                    count);
      } else {
        item = detail::encode_chunk(name, f, in->it, in->last, chunksize, save_one,
                                    in->expected_size, count);
      }
      auto state = detail::make_state<detail::chunk<R>>(drv);
      enqueue_on(core, state, std::move(item));
      next.results = detail::future_access::make(std::move(state));
      next.count = count;
      return true;
    };
    return lazy_map<R>(std::make_unique<detail::lazy_map_state<R>>(std::move(submit_next), ordered,
                                                                   buffersize, progress_driver()));
  }

  void enqueue_state(std::shared_ptr<detail::state_base> state, std::string item);
  std::weak_ptr<detail::driver> progress_driver() const;

  // While map() submits its chunks, the submitting thread drives the
  // management loop itself, one step per chunk, so the first chunks run
  // while the last are encoded (a background thread would compete with it
  // for the cores and the queue's lock instead).
  class bulk_submission {
   public:
    explicit bulk_submission(executor& e) : e_(e) {
      if (detail::driver* d = e_.loop_driver()) driving_.start(*d);
    }
    void submitted() { e_.bulk_step(); }

   private:
    executor& e_;
    detail::driving_guard driving_;  // stops driving (not giving up) when map() returns
  };
  detail::driver* loop_driver() const noexcept;
  void bulk_step();

  struct served_tag {};
  explicit executor(served_tag) noexcept {}  // a spawned process that has served its parent
  executor(detail::spawned_pool pool, options opts);
  // A spawned pool, once shut down: its workers released and the link to them
  // disconnected; stats() then returns what it had done.
  void release_spawned();

  boost::mpi::communicator comm_;
  std::shared_ptr<detail::executor_core> core_;
  std::shared_ptr<detail::spawned_workers> spawned_;  // a spawned pool's link to its workers
  std::optional<pool_stats> final_stats_;             // a released spawned pool's stats
  bool is_root_ = false;
  bool remote_workers_ = false;  // workers are other ranks (not local threads)
  int max_workers_ = 0;
  // The pool's isolation and limits, for submit_with().
  isolation isolation_ = isolation::none;
  std::chrono::duration<double> call_timeout_{0};
  std::size_t call_memory_limit_ = 0;
  bool print_stats_ = false;  // options::print_stats or RANKPOOL_STATS=1: at shutdown
  void print_stats_once();
};

/// @brief Serves the pool of the process that started this one with executor::spawn(), in
/// a worker program other than the spawning program, until that pool shuts down.
/// @code
/// int main(int argc, char** argv) {  // the program given to executor::spawn(n, opts, program)
///   boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
///   rankpool::serve();
/// }
/// @endcode
/// @throws std::logic_error if this process was not started by executor::spawn() (or has
///         served its pool already).
void serve();

template <class T>
template <class G>
auto future<T>::then(executor& pool, G g) const {
  checked();  // an empty future throws std::logic_error, as everywhere
  return pool.submit_after(state_, std::move(g));
}

}  // namespace rankpool
