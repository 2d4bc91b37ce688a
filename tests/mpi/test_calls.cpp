#include "mpi/test_calls.hpp"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <numeric>
#include <thread>

namespace calls {

namespace {
// Set by every local thread's initializer at 1 rank (the same value): atomic, not a race.
std::atomic<int> offset{0};
}

int square(int x) {
  return x * x;
}
int increment(int x) {
  return x + 1;
}
double add(double a, double b) {
  return a + b;
}
void noop() {}
std::string greet(const std::string& name) {
  return "hello " + name;
}
double sum(std::vector<double> v) {
  return std::accumulate(v.begin(), v.end(), 0.0);
}
std::vector<char> echo_bytes(std::vector<char> bytes) {
  return bytes;
}
std::size_t byte_count(const std::vector<char>& bytes) {
  return bytes.size();
}
int throw_out_of_range(int index) {
  throw std::out_of_range("index " + std::to_string(index) + " out of range");
}
int throw_int(int value) {
  throw value;
}
int sleep_ms(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  return ms;
}
int fail_on(int x, int bad) {
  if (x == bad) throw std::runtime_error("failed on " + std::to_string(x));
  return x;
}
int world_rank() {
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  return rank;
}
void set_offset(int value) {
  offset = value;
}
int add_offset(int x) {
  return x + offset;
}
void failing_initializer() {
  throw std::runtime_error("no license file");
}
int take_unloadable(unloadable u) {
  return u.value;
}
unsavable make_unsavable(int value) {
  return unsavable{value};
}

}  // namespace calls

RANKPOOL_REGISTER(calls::square);
RANKPOOL_REGISTER(calls::increment);
RANKPOOL_REGISTER(calls::add);
RANKPOOL_REGISTER(calls::noop);
RANKPOOL_REGISTER(calls::greet);
RANKPOOL_REGISTER(calls::sum);
RANKPOOL_REGISTER(calls::echo_bytes);
RANKPOOL_REGISTER(calls::byte_count);
RANKPOOL_REGISTER(calls::throw_out_of_range);
RANKPOOL_REGISTER(calls::throw_int);
RANKPOOL_REGISTER(calls::sleep_ms);
RANKPOOL_REGISTER(calls::fail_on);
RANKPOOL_REGISTER(calls::world_rank);
RANKPOOL_REGISTER(calls::set_offset);
RANKPOOL_REGISTER(calls::add_offset);
RANKPOOL_REGISTER(calls::failing_initializer);
RANKPOOL_REGISTER(calls::take_unloadable);
RANKPOOL_REGISTER(calls::make_unsavable);
RANKPOOL_REGISTER_TYPE(calls::scale);
