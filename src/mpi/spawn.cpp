// Spawned pools: MPI_Comm_spawn on MPI_COMM_SELF, the intercommunicator
// merged (the parent is rank 0), the parent's options sent over it, then an
// ordinary executor over the merged communicator on both sides.
//
// Open MPI 4.1 (with PMIx 4) hangs in MPI_Comm_disconnect of a communicator
// made by MPI_Intercomm_merge: the merged one is freed, and only the
// intercommunicator is disconnected.
#include "mpi/spawn.hpp"

#include "mpi/transport.hpp"
#include "rankpool/executor.hpp"
#include "root/executor_core.hpp"

#include <boost/algorithm/string/split.hpp>
#include <boost/mpi/collectives/broadcast.hpp>
#include <boost/serialization/string.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace rankpool::detail {
namespace {

// This program and its arguments, as it was started.
std::string this_program() {
  char path[4096];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) throw std::runtime_error("rankpool: spawn() cannot read /proc/self/exe");
  return std::string(path, static_cast<std::size_t>(n));
}

// `text` cut at each `separator` ("a:b:" gives "a", "b", "").
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  boost::algorithm::split(parts, text, [separator](char c) { return c == separator; });
  return parts;
}

std::vector<std::string> this_programs_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto args = split(all, '\0');
  if (!all.empty() && all.back() == '\0') args.pop_back();  // each argument ends with a NUL
  if (!args.empty()) args.erase(args.begin());  // argv[0]: MPI_Comm_spawn takes the rest
  return args;
}

// A program MPI could start: Open MPI waits forever in a singleton's
// MPI_Comm_spawn of a program it cannot execute, so that is checked here.
bool runnable(const std::string& program) {
  if (program.find('/') != std::string::npos) return access(program.c_str(), X_OK) == 0;
  if (access(program.c_str(), X_OK) == 0) return true;  // Open MPI also looks in the cwd
  const char* path = std::getenv("PATH");
  for (const auto& dir : split(path ? path : "", ':')) {
    if (!dir.empty() && access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// The options a spawned worker takes from its parent (root is always 0
// there; print_stats concerns only the parent).
// The parent's options for its spawned workers, in the raw codec (parent
// and workers run on the same kind of machine: one job).
std::string encode_options(const options& o) {
  std::string out;
  {
    raw_writer w(out);
    w.put<std::int32_t>(o.window);
    w.put<std::int32_t>(o.local_workers);
    w.put<std::uint64_t>(o.max_message_bytes);
    w.put<std::uint8_t>(o.isolation == isolation::process ? 1 : 0);
    w.put<double>(o.call_timeout.count());
    w.put<std::uint64_t>(o.call_memory_limit);
    w.put(o.initializer ? o.initializer.name() : std::string());
    w.put(o.initializer.payload());
  }  // the writer trims its room ahead when it goes
  return out;
}

// The initializer names its callable by a pointer to the registered name;
// a name this program never registered is kept here, so that running it
// fails with that name.
const std::string* stable_name(const std::string& name) {
  if (const auto* entry = find_callable(name)) return &entry->name;
  static std::mutex mutex;
  static std::deque<std::string> unknown;
  std::lock_guard<std::mutex> lock(mutex);
  return &unknown.emplace_back(name);
}

options decode_options(const std::string& data) {
  try {
    raw_reader in(data);
    options o;
    o.window = in.get<std::int32_t>();
    o.local_workers = in.get<std::int32_t>();
    o.max_message_bytes = static_cast<std::size_t>(in.get<std::uint64_t>());
    o.isolation = in.get<std::uint8_t>() != 0 ? isolation::process : isolation::none;
    o.call_timeout = std::chrono::duration<double>(in.get<double>());
    o.call_memory_limit = static_cast<std::size_t>(in.get<std::uint64_t>());
    auto name = in.get<std::string>();
    auto payload = in.get<std::string>();
    if (!name.empty()) {
      o.initializer = initializer_access::make(stable_name(name), std::move(payload));
    }
    return o;
  } catch (const std::length_error& e) {
    throw std::runtime_error(
        std::string("rankpool: a spawned worker got truncated options from its parent: ") +
        e.what());
  }
}

std::atomic<bool> parent_served{false};

}  // namespace

spawned_workers::~spawned_workers() {
  if (intercomm_ != MPI_COMM_NULL) MPI_Comm_disconnect(&intercomm_);
}

spawned_pool spawn_workers(int workers, const options& opts, const std::string& program,
                           const std::vector<std::string>& args) {
  if (workers < 1) {
    throw std::invalid_argument("rankpool: spawn() needs at least 1 worker, got " +
                                std::to_string(workers));
  }
  const std::string command = program.empty() ? this_program() : program;
  if (!runnable(command)) {
    throw std::invalid_argument("rankpool: spawn() cannot run '" + command +
                                "': no such executable (not found, or not executable)");
  }
  const std::vector<std::string> argv_strings =
      program.empty() && args.empty() ? this_programs_arguments() : args;
  std::vector<char*> argv;
  for (const auto& a : argv_strings) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  // An error comes back as a code here rather than aborting the job.
  MPI_Errhandler previous;
  MPI_Comm_get_errhandler(MPI_COMM_SELF, &previous);
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  MPI_Comm intercomm = MPI_COMM_NULL;
  std::vector<int> codes(static_cast<std::size_t>(workers), MPI_SUCCESS);
  const int rc = MPI_Comm_spawn(command.c_str(), argv.data(), workers, MPI_INFO_NULL, 0,
                                MPI_COMM_SELF, &intercomm, codes.data());
  MPI_Comm_set_errhandler(MPI_COMM_SELF, previous);
  MPI_Errhandler_free(&previous);
  if (rc != MPI_SUCCESS) {
    throw std::runtime_error(
        "rankpool: spawn() could not start " + std::to_string(workers) + " worker(s) of '" +
        command + "': " + mpi_error_text(rc) +
        ". With Open MPI, a program started without mpirun, or an allocation without free "
        "slots, needs OMPI_MCA_rmaps_base_oversubscribe=1 (or mpirun --oversubscribe, or a "
        "hostfile with enough slots): see docs/embedding.md");
  }
  spawned_pool pool;
  pool.link = std::make_unique<spawned_workers>(intercomm);
  MPI_Comm merged = MPI_COMM_NULL;
  MPI_Intercomm_merge(intercomm, 0, &merged);
  pool.comm = boost::mpi::communicator(merged, boost::mpi::comm_take_ownership);
  std::string encoded = encode_options(opts);
  boost::mpi::broadcast(pool.comm, encoded, 0);
  return pool;
}

bool take_parent() {
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  if (parent == MPI_COMM_NULL) return false;
  return !parent_served.exchange(true);
}

void serve_parent() {
  MPI_Comm parent = MPI_COMM_NULL;
  MPI_Comm_get_parent(&parent);
  MPI_Comm merged = MPI_COMM_NULL;
  MPI_Intercomm_merge(parent, 1, &merged);
  try {
    boost::mpi::communicator comm(merged, boost::mpi::comm_take_ownership);
    std::string encoded;
    boost::mpi::broadcast(comm, encoded, 0);
    const executor served(comm, decode_options(encoded));  // serves until the parent shuts down
  } catch (...) {                  // the merged communicator is freed by now, as below
    MPI_Comm_disconnect(&parent);  // the parent must not wait for this process forever
    throw;
  }
  MPI_Comm_disconnect(&parent);
}

}  // namespace rankpool::detail
