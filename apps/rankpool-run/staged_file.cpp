#include "staged_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <system_error>

namespace rankpool::run {
namespace {

[[noreturn]] void fail(const std::string& what, const std::string& path) {
  throw std::system_error(errno, std::generic_category(),
                          "rankpool-run: cannot " + what + " '" + path + "'");
}

std::string directory_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string temp_name_for(const std::string& path) {
  const auto slash = path.rfind('/');
  const auto start = slash == std::string::npos ? 0 : slash + 1;
  return path.substr(0, start) + "." + path.substr(start) + ".part";
}

// Opens `path` with `flags`, fsyncs it, closes it; throws on any failure.
void sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) fail("open", path);
  const int rc = ::fsync(fd);
  const int saved = errno;
  ::close(fd);
  errno = saved;
  if (rc != 0) fail("fsync", path);
}

}  // namespace

staged_file::staged_file(std::string final_path)
    : final_(std::move(final_path)), temp_(temp_name_for(final_)) {
  if (::unlink(temp_.c_str()) != 0 && errno != ENOENT) fail("remove", temp_);
}

staged_file::~staged_file() {
  if (!committed_) ::unlink(temp_.c_str());
}

void staged_file::commit(bool durable) {
  // A command that never opened its output (it could not start) still
  // leaves a file, as writing to it directly would have.
  const int fd = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) fail("create", temp_);
  ::close(fd);
  if (durable) sync_path(temp_, O_RDONLY);
  if (::rename(temp_.c_str(), final_.c_str()) != 0) fail("rename into place", final_);
  committed_ = true;
  if (durable) sync_path(directory_of(final_), O_RDONLY | O_DIRECTORY);
}

}  // namespace rankpool::run
