#include "root/root_loop.hpp"

#include "wire/little_endian.hpp"

#include "rankpool/detail/buffer_pool.hpp"
#include "rankpool/errors.hpp"

#include <algorithm>
#include <iostream>

namespace rankpool::detail {
namespace {

std::vector<int> other_ranks(int size, int root) {
  std::vector<int> ranks;
  for (int r = 0; r < size; ++r) {
    if (r != root) ranks.push_back(r);
  }
  return ranks;
}

// The in-flight record of each worker, in workers' order.
std::vector<const call_ring*> rings_of(const std::vector<call_ring>& by_rank,
                                       const std::vector<int>& workers) {
  std::vector<const call_ring*> rings;
  rings.reserve(workers.size());
  for (int w : workers) rings.push_back(&by_rank[static_cast<std::size_t>(w)]);
  return rings;
}

}  // namespace

root_loop::root_loop(const boost::mpi::communicator& comm, const options& opts, executor_core& core,
                     std::vector<std::string> hosts)
    : core_(core),
      queue_(core.queue()),
      comm_(comm),
      workers_(other_ranks(comm_.size(), opts.root)),
      outbox_(comm_, opts.max_message_bytes),
      inbox_(comm_),
      posted_(comm_, workers_, wire::result_tag, wire::posted_result_max),
      in_flight_(static_cast<std::size_t>(comm_.size()), call_ring(opts.window)),
      worker_index_(static_cast<std::size_t>(comm_.size()), workers_.size()),
      policy_(rings_of(in_flight_, workers_)),
      tally_(std::make_unique<worker_tally[]>(workers_.size())),
      hosts_(std::move(hosts)),
      assigned_(workers_.size()) {
  lazy_sends_ = 64 * workers_.size() * static_cast<std::size_t>(opts.window);
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker_index_[static_cast<std::size_t>(workers_[i])] = i;
  }
}

// Each MPI call that finds nothing runs a round of MPI progress (and, when
// ranks outnumber cores, a sched_yield): a step that received a result
// makes no further probe or test, so a busy root spends its time on
// results and calls rather than on empty polls. Sends are checked for
// completion only when no call is out, and otherwise only the old ones
// beyond lazy_sends_ (complete long since: cheap to test).
bool root_loop::step() {
  try {
    const bool received = receive_one();
    bool busy = dispatch() || received;
    busy = send_terminations() || busy;
    // While calls are out, recent sends stay untested (see outbox::trim):
    // a test of an unfinished send is a round of MPI progress, a
    // sched_yield when oversubscribed. All are retired before the loop idles.
    if (!busy && in_flight_count_ == 0) {
      busy = outbox_.poll();
    } else {
      outbox_.trim(lazy_sends_, lazy_send_bytes);
    }
    return stop_workers_when_done() || busy;
  } catch (const std::exception& e) {
    end_loop(e.what());
    return true;
  }
}

// future::terminate() (or shutdown with cancel_futures) of calls in flight:
// each one's worker is told its id; it stops the call, or skips it if it
// has not reached it, and answers "terminated". A call no longer in flight
// has ended: its terminate() sees how.
bool root_loop::send_terminations() {
  terminating_.clear();
  const bool all = core_.take_terminations(terminating_);
  if (!all && terminating_.empty()) return false;
  for (const int worker : workers_) {
    in_flight_[static_cast<std::size_t>(worker)].for_each(
        [&](std::uint64_t id, const std::shared_ptr<state_base>& state) {
          if (!all &&
              std::find(terminating_.begin(), terminating_.end(), state) == terminating_.end()) {
            return;
          }
          std::string data;
          wire::put<std::uint64_t>(data, id);
          outbox_.send(worker, wire::terminate_tag, std::move(data));
        });
  }
  terminating_.clear();
  return true;
}

bool root_loop::receive_one() {
  // Every result that has arrived, from any worker, in one MPI call; each
  // slot is posted again only after its message is handled, so a block
  // or an announced message from that worker is read first.
  if (posted_.receive_all([this](int source, std::string_view data) {
        count_bytes_out(source, data.size());
        handle(source, wire::result_tag, data);
      }) > 0) {
    return true;
  }
  // Workers send only result_tag messages, all of which land in the
  // posted receives. Now and then, also read what this very rank may have
  // sent to itself on the private communicator (it is no worker; only a
  // stray sender does), so that nothing sits unread.
  if (++empty_polls_ % 16 != 0) return false;
  if (!inbox_.try_receive(stray_, comm_.rank())) return false;
  handle(stray_.source, stray_.tag, stray_.data);
  return true;
}

// Before the loop sleeps: every message this rank sent itself (see
// receive_one). Holds the drive lock.
void root_loop::read_strays() {
  try {
    while (inbox_.try_receive(stray_, comm_.rank())) handle(stray_.source, stray_.tag, stray_.data);
  } catch (const std::exception& e) {
    end_loop(e.what());
  }
}

// Communication failed: nothing in flight can be trusted to come back.
void root_loop::end_loop(const std::string& why) {
  fail_in_flight(why);
  finish_loop();
}

// The loop's last act: no receive stays posted, so later users of the
// communicator (a test that drains a broken pool's workers) get every message.
void root_loop::finish_loop() {
  posted_.cancel();
  finished_ = true;
}

// `holder`, if given, holds `data`: a lone lazily decoded result keeps it
// whole rather than a copy of its bytes.
void root_loop::handle(int source, int tag, std::string_view data, std::string* holder) {
  if (tag != wire::result_tag) {
    std::cerr << "rankpool: the root ignored a message with unknown tag " << tag << " from rank "
              << source << '\n';
    return;
  }
  try {
    wire::reader reader(data);
    while (!reader.empty()) {
      const auto result = reader.next_result();
      if (result.status == wire::result_status::envelope) {
        if (holder) throw wire::decode_error("rankpool: an envelope inside an envelope");
        receive_announced(source, result.follows);
      } else if (result.id == 0 && !result.ok()) {
        initializer_failed(source, result.payload);
        return;
      } else if (result.status == wire::result_status::block) {
        complete_block(source, result);
      } else if (auto state = take_in_flight(source, result.id)) {
        if (!result.ok()) count_failure(source);
        // Raw results are decoded here; others keep a copy of their bytes.
        if (result.ok() && state->set_value(result.payload)) continue;
        if (holder != nullptr && reader.empty()) {
          executor_core::complete(*state, result, std::move(*holder));
        } else {
          executor_core::complete(*state, result);
        }
      }
    }
  } catch (const wire::decode_error& e) {
    std::cerr << "rankpool: the root dropped an undecodable result message from rank " << source
              << ": " << e.what() << '\n';
  }
}

// A message too large for a posted receive, announced by an envelope:
// received from that worker straight away (it is the next thing it sends).
void root_loop::receive_announced(int source, std::uint64_t size) {
  std::string buffer = acquire_buffer(static_cast<std::size_t>(size));
  buffer.resize(static_cast<std::size_t>(size));
  receive_block(comm_, source, wire::large_tag, buffer.data(), buffer.size());
  count_bytes_out(source, buffer.size());
  handle(source, wire::result_tag, buffer, &buffer);
  release_buffer(std::move(buffer));
}

void root_loop::initializer_failed(int source, std::string_view payload) {
  std::string why = "rankpool: the initializer failed on worker rank " + std::to_string(source);
  try {
    const auto info = wire::decode_error_info(payload);
    if (info.type_name == "rankpool::broken_executor") {  // not the initializer: its call process
      why = "rankpool: worker rank " + std::to_string(source) + " (" + info.host + ") " +
            info.message;
    } else {
      why += " (" + info.host + "): " + info.message;
    }
  } catch (const std::exception&) {
    // the report itself is garbled: the rank is all we know
  }
  fail_in_flight(why);
}

// A result sent as a block (see wire::block_min) goes straight into the
// future's value. A block nobody takes (its call failed already when the
// pool broke) is still received, so it cannot be mistaken for a message.
void root_loop::complete_block(int source, const wire::result_item& result) {
  const auto bytes = static_cast<std::size_t>(result.follows);
  auto state = take_in_flight(source, result.id);
  char* into = nullptr;
  std::exception_ptr error;
  if (state) {
    try {
      into = static_cast<char*>(state->block_buffer(bytes));
      if (into == nullptr) {
        throw broken_executor("rankpool: rank " + std::to_string(source) + " sent a result of " +
                              std::to_string(bytes) + " bytes as a block for call " +
                              std::to_string(result.id) + ", whose result type takes none");
      }
    } catch (...) {
      error = std::current_exception();  // e.g. bad_alloc: that call fails, the pool goes on
    }
  }
  try {
    receive_block(comm_, source, wire::block_tag, error ? nullptr : into, bytes);
    count_bytes_out(source, bytes);
  } catch (...) {
    if (state) state->set_exception(std::current_exception());
    throw;  // the stream from that worker is out of step: the pool breaks
  }
  if (!state) return;
  if (error) {
    state->set_exception(error);
  } else {
    state->set_payload(std::string());
  }
}

// The state of an in-flight call, now answered; null for an id we do not
// know (already failed when the pool broke, or a stray message).
std::shared_ptr<state_base> root_loop::take_in_flight(int source, std::uint64_t id) {
  if (source < 0 || source >= comm_.size()) return nullptr;
  call_ring::send_record sent;
  auto state = in_flight_[static_cast<std::size_t>(source)].take(id, &sent);
  if (!state) return nullptr;
  --in_flight_count_;
  const auto now = clock::now();
  if (const auto i = worker_index_[static_cast<std::size_t>(source)]; i < workers_.size()) {
    tally_[i].call_ended(now - policy_.start_of(i, sent.at), false);
    policy_.answered(i, sent.at, now);
  }
  // The fastest answer from an idle worker: about one round trip.
  if (sent.alone) round_trip_ = std::min(round_trip_, now - sent.at);
  return state;
}

// Moves queued calls to workers with room in their window, in the order
// dispatch_policy chooses (idle workers first, adaptive windows). The calls
// are taken under the lock and sent after it, several to one worker in one
// message, so submitting threads never wait for MPI.
bool root_loop::dispatch() {
  const auto now = clock::now();
  const std::size_t n = workers_.size();
  bool any = false;
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    auto& pending = queue_.items;
    if (pending.empty() || !queue_.broken.empty()) return false;
    // Worker i takes the next call that was not cancelled while it waited.
    const auto deepest = policy_.assign(detail::long_call(round_trip_), now, [&](std::size_t i) {
      while (!pending.empty()) {
        work_item work = std::move(pending.front());
        pending.pop_front();
        if (work.state->try_start()) {
          core_.record_start(work.submitted, now);
          assigned_[i].push_back(std::move(work));
          ++in_flight_count_;  // under the queue's mutex: see loop_scheduler::idle()
          any = true;
          return true;
        }
      }
      return false;
    });
    if (deepest > deepest_window_.load(std::memory_order_relaxed)) {
      deepest_window_.store(deepest, std::memory_order_relaxed);
    }
  }
  if (!any) return false;
  for (std::size_t i = 0; i < n; ++i) {
    auto& calls = assigned_[i];
    if (calls.empty()) continue;
    const std::size_t first = outgoing_.size();
    for (auto& work : calls) outgoing_.push_back(std::move(work));
    calls.clear();
    batches_.push_back({workers_[i], outgoing_.size() - first});
  }
  std::size_t at = 0;
  for (const auto& b : batches_) {
    send_calls(b.worker, at, b.count, now);
    at += b.count;
  }
  outgoing_.clear();
  batches_.clear();
  return true;
}

// Sends a worker calls outgoing_[at, at + count): one call item as it is,
// several concatenated. A call with blocks goes alone, its blocks right
// after it, so a worker that could not read a call's blocks can drop them.
void root_loop::send_calls(int worker, std::size_t at, std::size_t count, clock::time_point now) {
  const std::size_t end = at + count;
  while (at < end) {
    std::size_t run = at;
    while (run < end && !wire::has_blocks(outgoing_[run].call_item)) ++run;
    if (run == at) {
      send_with_blocks(worker, outgoing_[at], now);
      ++at;
    } else {
      send_items(worker, at, run - at, now);
      at = run;
    }
  }
}

void root_loop::send_items(int worker, std::size_t at, std::size_t count, clock::time_point now) {
  auto& ring = in_flight_[static_cast<std::size_t>(worker)];
  if (count == 1) {
    auto& work = outgoing_[at];
    count_bytes_in(worker, work.call_item.size());
    ring.push(wire::call_id(work.call_item), std::move(work.state), now);
    outbox_.send(worker, wire::call_tag, std::move(work.call_item));  // no copy
    return;
  }
  std::size_t size = 0;
  for (std::size_t i = at; i < at + count; ++i) size += outgoing_[i].call_item.size();
  count_bytes_in(worker, size);
  std::string message;
  message.reserve(size);
  for (std::size_t i = at; i < at + count; ++i) {
    auto& work = outgoing_[i];
    message += work.call_item;
    ring.push(wire::call_id(work.call_item), std::move(work.state), now);
  }
  outbox_.send(worker, wire::call_tag, std::move(message));
}

// The item, then each block, from the buffer submit() filled: no copy.
void root_loop::send_with_blocks(int worker, work_item& work, clock::time_point now) {
  std::string buffer = std::move(work.call_item);
  count_bytes_in(worker, buffer.size());
  const std::size_t item_size = wire::split_blocks(buffer, blocks_);
  segments_.clear();
  segments_.push_back({0, item_size, wire::call_tag});
  for (const auto& b : blocks_) segments_.push_back({b.offset, b.size, wire::arg_block_tag});
  in_flight_[static_cast<std::size_t>(worker)].push(wire::call_id(buffer), std::move(work.state),
                                                    now);
  outbox_.send(worker, std::move(buffer), segments_.data(), segments_.size());
}

void root_loop::count_bytes_in(int worker, std::size_t bytes) {
  if (const auto i = worker_index_[static_cast<std::size_t>(worker)]; i < workers_.size()) {
    tally(tally_[i].bytes_in, bytes);
  }
}

void root_loop::count_bytes_out(int source, std::size_t bytes) {
  if (source < 0 || source >= comm_.size()) return;
  if (const auto i = worker_index_[static_cast<std::size_t>(source)]; i < workers_.size()) {
    tally(tally_[i].bytes_out, bytes);
  }
}

void root_loop::count_failure(int source) {
  if (const auto i = worker_index_[static_cast<std::size_t>(source)]; i < workers_.size()) {
    tally(tally_[i].failed, 1);
  }
}

void root_loop::add_worker_stats(std::vector<worker_stats>& out) const {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    const auto rank = static_cast<std::size_t>(workers_[i]);
    out.push_back(tally_[i].to_stats(workers_[i], rank < hosts_.size() ? hosts_[rank] : ""));
  }
}

bool root_loop::stop_workers_when_done() {
  if (stop_sent_) {
    if (outbox_.empty()) finish_loop();
    return false;
  }
  if (!queue_.shutting_down.load()) return false;  // the usual case, without the lock
  {
    std::lock_guard<std::mutex> lock(queue_.mutex);
    if (!queue_.items.empty()) return false;
    if (in_flight_count_ > 0 && queue_.broken.empty()) return false;
  }
  for (int w : workers_) outbox_.send(w, wire::stop_tag, std::string());
  stop_sent_ = true;
  return true;
}

void root_loop::fail_in_flight(const std::string& why) {
  core_.break_pool(why);
  const auto error = std::make_exception_ptr(broken_executor(why));
  std::vector<std::shared_ptr<state_base>> lost;
  for (auto& ring : in_flight_) ring.drain(lost);
  // Calls taken for sending when MPI failed, not yet in a ring.
  for (auto& work : outgoing_) {
    if (work.state) lost.push_back(std::move(work.state));
  }
  for (auto& calls : assigned_) {
    for (auto& work : calls) lost.push_back(std::move(work.state));
    calls.clear();
  }
  outgoing_.clear();
  batches_.clear();
  in_flight_count_ = 0;
  for (auto& state : lost) state->set_exception(error);
}

}  // namespace rankpool::detail
