// Callables shared by the MPI tests; registered in test_calls.cpp.
#pragma once

#include <rankpool/rankpool.hpp>

#include <gtest/gtest.h>

#include <boost/serialization/split_member.hpp>

#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace calls {

int square(int x);
int increment(int x);  // x + 1
double add(double a, double b);
void noop();
std::string greet(const std::string& name);
double sum(std::vector<double> v);
std::vector<char> echo_bytes(std::vector<char> bytes);
std::size_t byte_count(const std::vector<char>& bytes);
int throw_out_of_range(int index);  // throws std::out_of_range("index <i> out of range")
int throw_int(int value);           // throws the int itself
int sleep_ms(int ms);               // sleeps, then returns ms
int fail_on(int x, int bad);        // throws std::runtime_error when x == bad, else returns x
int world_rank();                   // MPI_COMM_WORLD rank of the process running the call
void set_offset(int offset);        // initializer: later add_offset calls add it
int add_offset(int x);
void failing_initializer();  // throws std::runtime_error("no license file")

struct scale {
  double k = 1;
  double operator()(double x) const { return k * x; }
  template <class A>
  void serialize(A& ar, unsigned) {
    ar& k;
  }
};

// Saves fine, but fails to load on the worker: argument decoding fails there.
struct unloadable {
  int value = 0;
  template <class A>
  void save(A& ar, unsigned) const {
    ar << value;
  }
  template <class A>
  void load(A&, unsigned) {
    throw std::runtime_error("unloadable cannot be loaded");
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};
int take_unloadable(unloadable u);

// Returned by a call; its save throws, so the result cannot be serialized.
struct unsavable {
  int value = 0;
  template <class A>
  void save(A&, unsigned) const {
    throw std::runtime_error("unsavable cannot be saved");
  }
  template <class A>
  void load(A& ar, unsigned) {
    ar >> value;
  }
  BOOST_SERIALIZATION_SPLIT_MEMBER()
};
unsavable make_unsavable(int value);

}  // namespace calls

namespace test_support {

// Waits (bounded, 10 s) until f is running on a worker; false if it never did.
template <class T>
bool becomes_running(const rankpool::future<T>& f) {
  using namespace std::chrono_literals;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!f.running() && !f.done() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  return f.running();
}

// Asserts that `f` failed on a worker rank because no callable is
// registered there as `name` (a function registered on the root only).
template <class T>
::testing::AssertionResult failed_as_unregistered(const rankpool::future<T>& f,
                                                  const std::string& name) {
  try {
    f.get();
  } catch (const rankpool::remote_error& e) {
    const std::string expected =
        "no callable is registered as '" + name + "' on rank " + std::to_string(e.rank());
    if (e.type_name() != "std::invalid_argument" || e.rank() == 0 ||
        std::string(e.what()).find(expected) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "not an unregistered-name error from a worker (" << e.type_name() << ", rank "
             << e.rank() << "): " << e.what();
    }
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "a worker without '" << name << "' cannot run it";
}

}  // namespace test_support
