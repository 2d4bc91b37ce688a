// The worker loop: probe -> receive -> decode -> call -> encode -> send,
// until the root sends stop. Every failure inside a call becomes an error
// result for that call; the worker keeps serving. A call that kills the
// process instead (a signal) is named on stderr by the crash_reporter.
#include "worker/worker_loop.hpp"

#include "isolation/call_process.hpp"
#include "mpi/transport.hpp"
#include "rankpool/detail/backoff.hpp"
#include "rankpool/detail/buffer_pool.hpp"
#include "sys/timer_slack.hpp"
#include "wire/little_endian.hpp"
#include "wire/wire.hpp"
#include "worker/crash_report.hpp"
#include "worker/run_call.hpp"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <set>

namespace rankpool::detail {
namespace {

int world_rank() {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}

// A single call's blocks: its argument blocks are the root's next messages
// (only if its item says it has any), its large result goes out after the reply.
class worker_blocks final : public announced_blocks {
 public:
  worker_blocks(MPI_Comm comm, int root, bool announced)
      : announced_blocks(announced), comm_(comm), root_(root) {}

 private:
  void fetch(char* into, std::size_t bytes) override {
    receive_block(comm_, root_, wire::arg_block_tag, into, bytes);
  }

  MPI_Comm comm_;
  int root_;
};

class worker {
 public:
  worker(const boost::mpi::communicator& comm, const options& opts)
      : comm_(comm),
        root_(opts.root),
        max_part_(opts.max_message_bytes),
        inbox_(comm_),
        replies_(comm_, max_part_, /*keep_buffers=*/true),
        site_{comm_.rank(), this_host()},
        crash_reporter_(site_.rank, world_rank(), site_.host),
        isolated_(opts.isolation == isolation::process),
        limits_(pool_limits(opts)) {}

  // Returns false (after telling the root) if the initializer threw, or no
  // call process could be started.
  bool initialize(const rankpool::initializer& init) {
    if (init) crash_reporter_.call_started(init.name(), 0);
    auto error = run_initializer(init, site_);
    crash_reporter_.call_finished();
    if (!error && isolated_) error = start_call_process();
    if (!error) return true;
    std::string report;  // an error result for call 0
    wire::append_error(report, 0, *error);
    send_reply(std::move(report));
    return false;
  }

  // Serves calls until stop. A worker whose initializer failed runs no calls:
  // it only drains what the root had already sent, so those sends complete.
  void serve(bool run_calls) {
    const short_timer_slack slack;
    backoff pause(backoff::worker_spin);
    message m;  // every call lands in this one buffer
    for (;;) {
      if (!inbox_.try_receive(m, root_)) {
        // While spinning, no yield of our own: when ranks outnumber cores,
        // Open MPI already yields in a progress round that finds nothing,
        // and a second yield only delays the answer to the next call
        // (map(64) ran about 10% faster without it).
        if (!pause.spinning()) pause.pause();
        continue;
      }
      pause.reset();
      if (m.tag == wire::stop_tag) break;
      if (!run_calls) continue;
      if (m.tag == wire::terminate_tag) {
        note_terminate(m.data);
        continue;
      }
      // The blocks of a call that failed before reading them (an unknown
      // name, undecodable arguments) come after it: nobody needs them.
      if (m.tag == wire::arg_block_tag) continue;
      if (m.tag != wire::call_tag) {
        std::cerr << "rankpool: worker rank " << site_.rank
                  << " ignored a message with unknown tag " << m.tag << '\n';
        continue;
      }
      run_message(m.data);
      // A large buffer goes back to the pool, for the results of large calls.
      if (m.data.capacity() >= pooled_buffer_min) release_buffer(std::move(m.data));
    }
  }

 private:
  void run_message(const std::string& data) {
    wire::reader reader(data);
    try {
      while (!reader.empty()) {
        const auto call = reader.next_call();
        // Recycles the buffers of results the root has taken, testing only
        // sends older than the last two (a test of an unfinished send is a
        // round of MPI progress).
        replies_.trim(2, std::size_t{1} << 20);
        std::string reply = replies_.spare();
        if (process_) {
          run_isolated(call, reply);
          continue;
        }
        crash_reporter_.call_started(call.name, call.id);
        worker_blocks blocks(comm_, root_, (call.flags & wire::blocks_flag) != 0);
        run_call(call, site_, reply, &blocks);
        crash_reporter_.call_finished();
        send_reply(std::move(reply));
        // The block follows its result item (MPI keeps one sender's
        // messages in order), sent from the call's own result.
        if (const auto& block = blocks.result; block.keep_alive) {
          send_blocking(comm_, root_, wire::block_tag, static_cast<const char*>(block.data),
                        block.bytes, max_part_);
        }
      }
    } catch (const wire::decode_error& e) {
      std::cerr << "rankpool: worker rank " << site_.rank << " dropped an undecodable message of "
                << data.size() << " bytes from the root: " << e.what() << '\n';
    }
  }

  std::optional<wire::error_info> start_call_process() {
    try {
      process_ = call_process::make_started(site_, /*blocks=*/true);
      return std::nullopt;
    } catch (const std::exception& e) {
      return wire::error_info{"rankpool::broken_executor", e.what(), site_.host, site_.rank};
    }
  }

  // Runs a call in the call process (which receives its argument blocks
  // through us); a call terminated before it started is answered at once.
  void run_isolated(const wire::call_view& call, std::string& reply) {
    if (terminated_.erase(call.id) > 0) {
      wire::append_error(reply, call.id,
                         {std::string(wire::terminated_type),
                          "rankpool: call '" + std::string(call.name) + "' was terminated",
                          site_.host, site_.rank});
      send_reply(std::move(reply));
      return;
    }
    const run_limits limits = limits_for(call, limits_);
    isolated_owner owner(*this, (call.flags & wire::blocks_flag) != 0);
    process_->run(call, limits, owner, reply);
    send_reply(std::move(reply));
    if (const auto block = process_->result_block(); !block.empty()) {
      send_blocking(comm_, root_, wire::block_tag, block.data(), block.size(), max_part_);
    }
  }

  // A terminate request for a call this worker has not reached yet (or has
  // answered already: the root ignores what comes after).
  void note_terminate(std::string_view data) {
    if (data.size() != 8) return;
    terminated_.insert(wire::load<std::uint64_t>(data.data()));
    // Requests for calls answered before they arrived are never taken: keep the newest.
    if (terminated_.size() > 4096) terminated_.erase(terminated_.begin());
  }

  // The worker's side of a running isolated call.
  class isolated_owner final : public call_owner {
   public:
    isolated_owner(worker& w, bool blocks) : w_(w), blocks_(w.comm_, w.root_, blocks) {}
    void receive_block(char* into, std::size_t bytes) override { blocks_.receive(into, bytes); }
    bool terminate_requested(std::uint64_t id) override {
      for (;;) {
        int flag = 0;
        MPI_Message handle = MPI_MESSAGE_NULL;
        MPI_Status status;
        MPI_Improbe(w_.root_, wire::terminate_tag, w_.comm_, &flag, &handle, &status);
        if (!flag) break;
        int count = 0;
        MPI_Get_count(&status, MPI_BYTE, &count);
        std::string buffer(static_cast<std::size_t>(std::max(count, 0)), '\0');
        MPI_Mrecv(buffer.data(), count, MPI_BYTE, &handle, MPI_STATUS_IGNORE);
        w_.note_terminate(buffer);
      }
      return w_.terminated_.erase(id) > 0;
    }

   private:
    worker& w_;
    worker_blocks blocks_;
  };

  // A reply that fits the root's posted receive goes straight there; a
  // larger one follows an envelope that announces it. Small messages go out
  // without waiting for their sends to complete (MPI completes them once the
  // root has taken them). A large one is sent by a blocking send: its
  // transfer then progresses while this worker waits in MPI, rather than
  // only when the idle loop next polls (which backs off to sleeps within a
  // millisecond).
  void send_reply(std::string reply) {
    constexpr std::size_t large_reply = 64 * 1024;
    if (reply.size() <= std::min(wire::posted_result_max, max_part_)) {
      replies_.send(root_, wire::result_tag, std::move(reply));
      return;
    }
    replies_.send(root_, wire::result_tag, wire::encode_envelope(reply.size()));
    if (reply.size() < large_reply) {
      replies_.send(root_, wire::large_tag, std::move(reply));
      return;
    }
    send_blocking(comm_, root_, wire::large_tag, reply, max_part_);
    replies_.recycle(std::move(reply));
  }

  const boost::mpi::communicator& comm_;
  int root_;
  std::size_t max_part_;
  inbox inbox_;
  outbox replies_;
  call_site site_;
  crash_reporter crash_reporter_;
  bool isolated_;
  run_limits limits_;                      // the pool's (options)
  std::unique_ptr<call_process> process_;  // with isolation::process
  std::set<std::uint64_t> terminated_;     // calls to answer "terminated" without running
};

}  // namespace

void run_worker(const boost::mpi::communicator& comm, const options& opts) {
  worker w(comm, opts);
  const bool ready = w.initialize(opts.initializer);
  w.serve(ready);
}

}  // namespace rankpool::detail
