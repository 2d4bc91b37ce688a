#include "run_command.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <system_error>

extern char** environ;

namespace rankpool::run {
namespace {

double unix_now() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), "rankpool-run: " + what);
}

// Closes a file descriptor when it goes out of scope.
class fd_guard {
 public:
  explicit fd_guard(int fd = -1) noexcept : fd_(fd) {}
  fd_guard(const fd_guard&) = delete;
  fd_guard& operator=(const fd_guard&) = delete;
  ~fd_guard() { reset(); }
  int get() const noexcept { return fd_; }
  void reset(int fd = -1) noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// posix_spawn attributes and file actions, destroyed with the scope.
class spawn_setup {
 public:
  spawn_setup() {
    posix_spawnattr_init(&attr_);
    posix_spawn_file_actions_init(&actions_);
    // Own process group, default signal handling (MPI and we install
    // handlers), nothing blocked.
    sigset_t none;
    sigemptyset(&none);
    sigset_t defaults;
    sigfillset(&defaults);
    sigdelset(&defaults, SIGKILL);
    sigdelset(&defaults, SIGSTOP);
    posix_spawnattr_setpgroup(&attr_, 0);
    posix_spawnattr_setsigmask(&attr_, &none);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(
        &attr_, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  }
  spawn_setup(const spawn_setup&) = delete;
  spawn_setup& operator=(const spawn_setup&) = delete;
  ~spawn_setup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  posix_spawnattr_t* attr() { return &attr_; }
  posix_spawn_file_actions_t* actions() { return &actions_; }

 private:
  posix_spawnattr_t attr_;
  posix_spawn_file_actions_t actions_;
};

std::vector<std::string> merged_environment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry(*e);
    const auto key = entry.substr(0, entry.find('=') + 1);
    bool replaced = false;
    for (const auto& x : extra) replaced = replaced || x.compare(0, key.size(), key) == 0;
    if (!replaced) env.push_back(entry);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// Sends the command's output either to a pipe we read or to a file.
void route_output(spawn_setup& setup, int target_fd, const std::string& path, fd_guard& read_end,
                  fd_guard& write_end) {
  if (!path.empty()) {
    posix_spawn_file_actions_addopen(setup.actions(), target_fd, path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    return;
  }
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) throw_errno(errno, "pipe2");
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  posix_spawn_file_actions_adddup2(setup.actions(), fds[1], target_fd);
}

bool read_some(fd_guard& fd, std::string& into) {
  char buffer[65536];
  const ssize_t n = ::read(fd.get(), buffer, sizeof buffer);
  if (n > 0) {
    into.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  fd.reset();  // end of file (or an error: nothing more will come)
  return false;
}

}  // namespace

spawn_result run_command(const spawn_request& request, const std::atomic<bool>* stop) {
  using clock = std::chrono::steady_clock;
  spawn_setup setup;
  posix_spawn_file_actions_addopen(setup.actions(), 0, "/dev/null", O_RDONLY, 0);
  fd_guard out_read, out_write, err_read, err_write;
  route_output(setup, 1, request.stdout_path, out_read, out_write);
  route_output(setup, 2, request.stderr_path, err_read, err_write);

  const auto env = merged_environment(request.env);
  std::vector<char*> envp;
  for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  const char* argv[] = {"/bin/bash", "-c", request.command.c_str(), nullptr};

  spawn_result result;
  result.start = unix_now();
  pid_t pid = 0;
  // A child starts with its parent thread's affinity: narrowed for the spawn
  // (--cpus-per-task), then restored, on this thread only.
  cpu_set_t before;
  const bool pin = !request.cpus.empty() && sched_getaffinity(0, sizeof before, &before) == 0;
  if (pin) {
    cpu_set_t mask;
    CPU_ZERO(&mask);
    for (int c : request.cpus) CPU_SET(c, &mask);
    sched_setaffinity(0, sizeof mask, &mask);
  }
  const int rc = posix_spawn(&pid, "/bin/bash", setup.actions(), setup.attr(),
                             const_cast<char* const*>(argv), envp.data());
  if (pin) sched_setaffinity(0, sizeof before, &before);
  if (rc != 0) throw_errno(rc, "could not start /bin/bash");
  out_write.reset();  // the child has its copies; EOF comes when it (and its children) exit
  err_write.reset();

  // A pidfd becomes readable when the child exits, so one poll() waits for
  // output, exit, and the timeout together.
  fd_guard exited(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (exited.get() < 0) throw_errno(errno, "pidfd_open");

  const auto started = clock::now();
  std::optional<clock::time_point> term_at;
  if (request.timeout_seconds > 0) {
    term_at = started + std::chrono::duration_cast<clock::duration>(
                            std::chrono::duration<double>(request.timeout_seconds));
  }
  std::optional<clock::time_point> kill_at;
  bool reaped = false;
  int status = 0;

  const auto end_group = [&](bool timed_out) {
    ::kill(-pid, SIGTERM);
    result.timed_out = timed_out;
    result.stopped = !timed_out;
    kill_at = clock::now() + std::chrono::duration_cast<clock::duration>(
                                 std::chrono::duration<double>(request.grace_seconds));
  };

  while (!reaped) {
    const auto now = clock::now();
    if (!kill_at) {
      if (term_at && now >= *term_at) {
        end_group(true);
      } else if (stop != nullptr && stop->load()) {
        end_group(false);
      }
    } else if (now >= *kill_at) {
      ::kill(-pid, SIGKILL);
    }
    pollfd fds[3] = {
        {exited.get(), POLLIN, 0}, {out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}};
    // Wake at least every 100 ms to see the stop flag; poll ignores negative fds.
    int wait_ms = 100;
    const auto next = kill_at ? kill_at : term_at;
    if (next) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(*next - now).count();
      wait_ms = static_cast<int>(std::max<long long>(0, std::min<long long>(wait_ms, left)));
    }
    if (::poll(fds, 3, wait_ms) < 0 && errno != EINTR) throw_errno(errno, "poll");
    if (fds[1].revents) read_some(out_read, result.out);
    if (fds[2].revents) read_some(err_read, result.err);
    if (fds[0].revents) {
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      reaped = true;
    }
  }
  result.end = unix_now();
  // Output already written is in the pipes; take it without waiting for
  // background children that may hold them open.
  for (auto* fd : {&out_read, &err_read}) {
    auto& into = fd == &out_read ? result.out : result.err;
    while (fd->get() >= 0) {
      pollfd p{fd->get(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0 || !read_some(*fd, into)) break;
    }
  }
  if (result.timed_out || kill_at) ::kill(-pid, SIGKILL);  // leave no strays behind

  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.signal = WTERMSIG(status);
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace rankpool::run
