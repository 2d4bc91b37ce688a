// Whole files that appear complete or not at all: written under a temporary
// name in the destination's own directory, then renamed over it, so a
// reader (or a run that was killed) sees the previous file or the new one,
// never a part. rename() is atomic within one file system, NFS included.
#pragma once

#include <string>

namespace rankpool::run {

class staged_file {
 public:
  // Removes any temporary file a killed run left behind: whatever writes
  // temp_path() next creates a new file, not one a stray process may still
  // hold open.
  explicit staged_file(std::string final_path);
  staged_file(const staged_file&) = delete;
  staged_file& operator=(const staged_file&) = delete;
  // Removes the temporary file unless it was committed.
  ~staged_file();

  const std::string& final_path() const noexcept { return final_; }
  // "DIR/.NAME.part": hidden, so `ls DIR` and globs like task-*.out skip it.
  const std::string& temp_path() const noexcept { return temp_; }

  // Renames the temporary file over the final one (creating an empty one
  // first if nothing wrote it). durable: fsync the data before and the
  // directory after, so the new content survives a power loss, not only a
  // killed process. Throws std::system_error.
  void commit(bool durable);

 private:
  std::string final_;
  std::string temp_;
  bool committed_ = false;
};

}  // namespace rankpool::run
