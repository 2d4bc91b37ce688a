// GoogleTest main for MPI tests: every rank runs every test; failures are
// printed with their rank from every rank, and the exit status is non-zero
// on all ranks if any rank failed.
#include <gtest/gtest.h>

#include <mpi.h>
#include <boost/mpi/environment.hpp>

#include <iostream>
#include <memory>

#ifndef RANKPOOL_TEST_THREADING
#define RANKPOOL_TEST_THREADING multiple
#endif

namespace {

// Replaces the default printer on ranks other than 0, so output stays
// readable but no rank's failure goes unreported.
class rank_failure_printer : public ::testing::EmptyTestEventListener {
 public:
  explicit rank_failure_printer(int rank) : rank_(rank) {}
  void OnTestPartResult(const ::testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::cerr << "[rank " << rank_ << "] " << (result.file_name() ? result.file_name() : "?") << ':'
              << result.line_number() << ": Failure\n"
              << result.message() << std::endl;
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  boost::mpi::environment env(argc, argv, boost::mpi::threading::RANKPOOL_TEST_THREADING);
  ::testing::InitGoogleTest(&argc, argv);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (rank != 0) {
    auto& listeners = ::testing::UnitTest::GetInstance()->listeners();
    std::unique_ptr<::testing::TestEventListener> dropped(
        listeners.Release(listeners.default_result_printer()));
    listeners.Append(std::make_unique<rank_failure_printer>(rank).release());  // gtest owns it
  }
  const int local = RUN_ALL_TESTS();
  int any = 0;
  MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  return any;
}
