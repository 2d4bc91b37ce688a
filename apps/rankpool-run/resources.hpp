// Cores and GPUs per task (--cpus-per-task, --gpus-per-task). The ranks of one
// node share a table of slots in an MPI shared-memory window (their node's
// communicator from MPI_Comm_split_type): slot k is cores [kN, kN + N) of the
// cores the node's ranks may use and GPUs [kG, kG + G) of the node's GPU
// list. A worker takes a free slot before it starts a task and gives it back
// when the task ends, so no core or GPU is handed to two running tasks; a
// worker that finds every slot taken waits.
#pragma once

#include <mpi.h>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace rankpool::run {

struct resource_request {
  int cpus_per_task = 0;  // 0: cores are not assigned
  int gpus_per_task = 0;  // 0: GPUs are not assigned
  std::string gpus;       // --gpus LIST; empty: the environment, else detection
};

// What one task was given.
struct lease {
  int slot = -1;
  std::vector<int> cpus;
  std::vector<std::string> gpus;
  // The variables the task gets: OMP_NUM_THREADS, RANKPOOL_CPUS,
  // CUDA_VISIBLE_DEVICES, ROCR_VISIBLE_DEVICES, ZE_AFFINITY_MASK.
  std::vector<std::string> environment() const;
};

class node_resources {
 public:
  // Collective over MPI_COMM_WORLD. Throws std::runtime_error (on every
  // rank) if some node can run no task at all with these requests.
  explicit node_resources(const resource_request& request);
  node_resources(const node_resources&) = delete;
  node_resources& operator=(const node_resources&) = delete;
  ~node_resources();

  bool enabled() const noexcept { return enabled_; }
  // Tasks that may run at once on this node.
  int slots() const noexcept { return slots_; }
  // Blocks until a slot is free (or *stop is set: then none).
  std::optional<lease> acquire(const std::atomic<bool>& stop);
  void release(const lease& l);

 private:
  bool try_take(lease& l);
  void lock();
  void unlock();

  bool enabled_ = false;
  resource_request request_;
  int slots_ = 0;
  std::vector<int> cpus_;          // the node's usable cores
  std::vector<std::string> gpus_;  // the node's GPUs
  MPI_Comm node_ = MPI_COMM_NULL;
  MPI_Win window_ = MPI_WIN_NULL;
  int* owners_ = nullptr;  // per slot: the world rank running a task in it, or -1
  bool local_ = false;     // one process: its threads share the table under a mutex
  struct local_lock;
  std::unique_ptr<local_lock> mutex_;
};

// The node resources of this process (set by main before serving tasks).
extern node_resources* task_resources;

}  // namespace rankpool::run
