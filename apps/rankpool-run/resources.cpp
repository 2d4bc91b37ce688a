#include "resources.hpp"

#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace rankpool::run {

node_resources* task_resources = nullptr;

struct node_resources::local_lock {
  std::mutex m;
};

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

// The node's GPUs: --gpus, else what the scheduler or the site exported,
// else the NVIDIA device files.
std::vector<std::string> node_gpus(const std::string& given) {
  if (!given.empty()) return split_list(given);
  for (const char* name : {"CUDA_VISIBLE_DEVICES", "SLURM_STEP_GPUS", "SLURM_JOB_GPUS"}) {
    if (const char* value = std::getenv(name); value && *value) return split_list(value);
  }
  std::vector<std::string> found;
  for (int i = 0; i < 64; ++i) {
    if (std::filesystem::exists("/dev/nvidia" + std::to_string(i)))
      found.push_back(std::to_string(i));
  }
  return found;
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

}  // namespace

std::vector<std::string> lease::environment() const {
  std::vector<std::string> env;
  if (!cpus.empty()) {
    std::vector<std::string> names;
    for (int c : cpus) names.push_back(std::to_string(c));
    env.push_back("OMP_NUM_THREADS=" + std::to_string(cpus.size()));
    env.push_back("RANKPOOL_CPUS=" + join(names));
  }
  if (!gpus.empty()) {
    const std::string list = join(gpus);
    env.push_back("CUDA_VISIBLE_DEVICES=" + list);
    env.push_back("ROCR_VISIBLE_DEVICES=" + list);
    env.push_back("ZE_AFFINITY_MASK=" + list);
    env.push_back("RANKPOOL_GPUS=" + list);
  }
  return env;
}

node_resources::node_resources(const resource_request& request) : request_(request) {
  enabled_ = request.cpus_per_task > 0 || request.gpus_per_task > 0;
  if (!enabled_) return;
  int world_rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, world_rank, MPI_INFO_NULL, &node_);
  int node_size = 1, node_rank = 0;
  MPI_Comm_size(node_, &node_size);
  MPI_Comm_rank(node_, &node_rank);
  local_ = node_size == 1;

  // The cores any rank of this node may use.
  cpu_set_t mine;
  CPU_ZERO(&mine);
  sched_getaffinity(0, sizeof mine, &mine);
  std::vector<unsigned char> bits(CPU_SETSIZE / 8, 0), all(CPU_SETSIZE / 8, 0);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &mine))
      bits[static_cast<std::size_t>(c / 8)] |= static_cast<unsigned char>(1u << (c % 8));
  }
  MPI_Allreduce(bits.data(), all.data(), static_cast<int>(all.size()), MPI_UNSIGNED_CHAR, MPI_BOR,
                node_);
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (all[static_cast<std::size_t>(c / 8)] & (1u << (c % 8))) cpus_.push_back(c);
  }
  gpus_ = node_gpus(request.gpus);
  slots_ = INT32_MAX;
  if (request.cpus_per_task > 0) {
    slots_ = std::min(slots_, static_cast<int>(cpus_.size()) / request.cpus_per_task);
  }
  if (request.gpus_per_task > 0) {
    slots_ = std::min(slots_, static_cast<int>(gpus_.size()) / request.gpus_per_task);
  }
  // Every rank learns whether any node can run nothing, and fails alike.
  int fewest = slots_;
  MPI_Allreduce(&slots_, &fewest, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (fewest == 0) {
    MPI_Comm_free(&node_);
    throw std::runtime_error(
        "a node has too few resources for one task: " + std::to_string(cpus_.size()) +
        " usable cores for --cpus-per-task " + std::to_string(request.cpus_per_task) + ", " +
        std::to_string(gpus_.size()) + " GPUs (" + (gpus_.empty() ? "none" : join(gpus_)) +
        ") for --gpus-per-task " + std::to_string(request.gpus_per_task) +
        " (give --gpus LIST or set CUDA_VISIBLE_DEVICES)");
  }
  if (local_) {
    mutex_ = std::make_unique<local_lock>();
  }
  // The slot table lives in the memory of the node's rank 0.
  const MPI_Aint bytes = node_rank == 0 ? static_cast<MPI_Aint>(sizeof(int)) * slots_ : 0;
  void* base = nullptr;
  MPI_Win_allocate_shared(bytes, sizeof(int), MPI_INFO_NULL, node_, &base, &window_);
  MPI_Aint size = 0;
  int unit = 0;
  MPI_Win_shared_query(window_, 0, &size, &unit, &owners_);
  if (node_rank == 0) std::fill(owners_, owners_ + slots_, -1);
  MPI_Barrier(node_);
}

node_resources::~node_resources() {
  if (window_ != MPI_WIN_NULL) MPI_Win_free(&window_);
  if (node_ != MPI_COMM_NULL) MPI_Comm_free(&node_);
}

void node_resources::lock() {
  if (local_) {
    mutex_->m.lock();
    return;
  }
  MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, window_);
  MPI_Win_sync(window_);  // see the other ranks' last writes
}

void node_resources::unlock() {
  if (local_) {
    mutex_->m.unlock();
    return;
  }
  MPI_Win_sync(window_);  // publish ours
  MPI_Win_unlock(0, window_);
}

bool node_resources::try_take(lease& l) {
  int me = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  lock();
  int slot = -1;
  for (int k = 0; k < slots_; ++k) {
    if (owners_[k] == -1) {
      owners_[k] = me;
      slot = k;
      break;
    }
  }
  unlock();
  if (slot < 0) return false;
  l.slot = slot;
  const auto n = static_cast<std::size_t>(request_.cpus_per_task);
  for (std::size_t i = 0; i < n; ++i)
    l.cpus.push_back(cpus_[static_cast<std::size_t>(slot) * n + i]);
  const auto g = static_cast<std::size_t>(request_.gpus_per_task);
  for (std::size_t i = 0; i < g; ++i)
    l.gpus.push_back(gpus_[static_cast<std::size_t>(slot) * g + i]);
  return true;
}

std::optional<lease> node_resources::acquire(const std::atomic<bool>& stop) {
  lease l;
  auto pause = std::chrono::milliseconds(1);
  while (!try_take(l)) {
    if (stop) return std::nullopt;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return l;
}

void node_resources::release(const lease& l) {
  if (l.slot < 0) return;
  lock();
  owners_[l.slot] = -1;
  unlock();
}

}  // namespace rankpool::run
