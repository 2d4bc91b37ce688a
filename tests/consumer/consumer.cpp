// A program written only against rankpool's public API, built by check.sh
// through find_package(rankpool CONFIG) and through add_subdirectory().
#include <rankpool/rankpool.hpp>

#include <boost/mpi/environment.hpp>

#include <iostream>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

double sum(std::vector<double> xs) {
  return std::accumulate(xs.begin(), xs.end(), 0.0);
}
RANKPOOL_REGISTER(sum);

namespace ns {
int square(int x) {
  return x * x;
}
int element(std::vector<int> v, int i) {
  if (i < 0 || i >= static_cast<int>(v.size()))
    throw std::out_of_range("element " + std::to_string(i) + " is out of range");
  return v[static_cast<std::size_t>(i)];
}
}  // namespace ns
RANKPOOL_REGISTER(ns::square);
RANKPOOL_REGISTER(ns::element);

double overloaded(double x) {
  return x + 0.5;
}
std::string overloaded(const std::string& s) {
  return s + "!";
}
RANKPOOL_REGISTER_AS(static_cast<double (*)(double)>(&overloaded), "overloaded_double");
RANKPOOL_REGISTER_AS(static_cast<std::string (*)(const std::string&)>(&overloaded),
                     "overloaded_string");

struct Scale {
  double k = 1.0;
  double operator()(double x) const { return k * x; }
  template <class Archive>
  void serialize(Archive& ar, unsigned) {
    ar& k;
  }
};
RANKPOOL_REGISTER_TYPE(Scale);

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::multiple);
  rankpool::executor pool;
  if (!pool) return 0;  // worker ranks return here once the root shuts down

  int failures = 0;
  auto check = [&failures](bool ok, const std::string& what) {
    if (!ok) {
      std::cerr << "consumer FAILED: " << what << std::endl;
      ++failures;
    }
  };

  check(pool.submit(sum, std::vector<double>{1.0, 2.0, 3.5}).get() == 6.5, "submit(sum)");
  check(pool.submit(ns::square, 7).get() == 49, "submit(ns::square)");
  check(pool.submit(static_cast<double (*)(double)>(&overloaded), 2.0).get() == 2.5,
        "submit(overloaded double)");
  check(
      pool.submit(static_cast<std::string (*)(const std::string&)>(&overloaded), std::string("hi"))
              .get() == "hi!",
      "submit(overloaded string)");
  check(pool.submit(Scale{3.0}, 2.0).get() == 6.0, "submit(Scale)");

  std::vector<int> xs(25);
  std::iota(xs.begin(), xs.end(), -3);
  const std::vector<int> squares = pool.map(ns::square, xs, 4).get();
  bool map_ok = squares.size() == xs.size();
  for (std::size_t i = 0; map_ok && i < xs.size(); ++i) map_ok = squares[i] == xs[i] * xs[i];
  check(map_ok, "map(ns::square, chunksize 4)");
  const std::vector<double> scaled =
      pool.map(Scale{-2.0}, std::vector<double>{1.0, 2.0, 3.0, 4.0, 5.0}, 2).get();
  check(scaled == std::vector<double>{-2.0, -4.0, -6.0, -8.0, -10.0}, "map(Scale, chunksize 2)");

  try {
    pool.submit(ns::element, std::vector<int>{1, 2, 3}, 5).get();
    check(false, "ns::element(5) did not throw");
  } catch (const rankpool::remote_error& e) {
    check(std::string(e.what()) == "element 5 is out of range",
          std::string("remote_error what() = ") + e.what());
    check(e.type_name() == "std::out_of_range", "remote_error type_name() = " + e.type_name());
  } catch (const std::exception& e) {
    check(false,
          std::string("ns::element(5) threw something other than remote_error: ") + e.what());
  }

  std::vector<rankpool::future<int>> fs;
  for (int i = 0; i < 10; ++i) fs.push_back(pool.submit(ns::square, i));
  const auto waited = rankpool::wait(fs);
  check(waited.done.size() == 10 && waited.not_done.empty(), "wait(all_completed)");
  for (int i = 0; i < 10; ++i)
    check(fs[static_cast<std::size_t>(i)].get() == i * i, "wait result " + std::to_string(i));

  std::vector<rankpool::future<double>> gs;
  for (int i = 1; i <= 12; ++i) gs.push_back(pool.submit(Scale{0.5}, static_cast<double>(i)));
  int completed = 0;
  double total = 0.0;
  for (const auto& f : rankpool::as_completed(gs)) {
    check(f.done(), "as_completed yielded an unfinished future");
    total += f.get();
    ++completed;
  }
  check(completed == 12 && total == 39.0,
        "as_completed: " + std::to_string(completed) + " futures, total " + std::to_string(total));

  pool.shutdown();
  if (failures != 0) {
    std::cerr << "consumer: " << failures << " check(s) failed" << std::endl;
    return 1;
  }
  std::cout << "consumer ok (" << pool.max_workers() << " workers)" << std::endl;
  return 0;
}
