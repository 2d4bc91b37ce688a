// What a process holds, read from /proc: resident memory, threads, open file
// descriptors and listening sockets. Used by the concurrency, security and
// soak tests to tell "the executor leaked something" from "it did not".
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace proc_stats {

// A field of /proc/self/status such as "VmRSS" (in kB) or "Threads"; -1 if absent.
inline long status_field(const std::string& name) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string key = name + ":";
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) == 0)
      return std::strtol(line.c_str() + key.size(), nullptr, 10);
  }
  return -1;
}

inline long rss_kib() {
  return status_field("VmRSS");
}

inline long thread_count() {
  return status_field("Threads");
}

// The targets of this process's open descriptors (e.g. "socket:[1234]",
// "/dev/null"). The directory iterator's own descriptor is included, the
// same way every time, so counts compare.
inline std::vector<std::string> fd_targets() {
  std::vector<std::string> targets;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    std::error_code read_ec;
    const auto target = std::filesystem::read_symlink(entry.path(), read_ec);
    if (!read_ec) targets.push_back(target.string());
  }
  return targets;
}

inline std::size_t open_fd_count() {
  return fd_targets().size();
}

// Inodes of the sockets this process has open ("socket:[inode]" descriptors).
inline std::set<unsigned long> socket_inodes() {
  std::set<unsigned long> inodes;
  const std::string prefix = "socket:[";
  for (const auto& target : fd_targets()) {
    if (target.compare(0, prefix.size(), prefix) == 0)
      inodes.insert(std::strtoul(target.c_str() + prefix.size(), nullptr, 10));
  }
  return inodes;
}

namespace detail {

// /proc/net/tcp, tcp6, udp, udp6: "sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...".
// A TCP socket listens in state 0A (LISTEN); a UDP socket bound and not
// connected (state 07, CLOSE) receives from anyone, so it counts as listening.
inline void inet_listeners(const std::string& proto, const std::string& listen_state,
                           const std::set<unsigned long>& ours, std::set<std::string>& out) {
  std::ifstream in("/proc/net/" + proto);
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout;
    unsigned long inode = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
      continue;
    }
    if (state == listen_state && ours.count(inode) != 0)
      out.insert(proto + " " + local + " inode " + std::to_string(inode));
  }
}

// /proc/net/unix: "Num RefCount Protocol Flags Type St Inode [Path]"; Flags
// has __SO_ACCEPTCON (0x10000) on a socket that listen()ed.
inline void unix_listeners(const std::set<unsigned long>& ours, std::set<std::string>& out) {
  std::ifstream in("/proc/net/unix");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string num, refs, protocol, flags, type, state, path;
    unsigned long inode = 0;
    if (!(fields >> num >> refs >> protocol >> flags >> type >> state >> inode)) continue;
    fields >> path;  // absent for unnamed sockets
    const bool listening = (std::strtoul(flags.c_str(), nullptr, 16) & 0x10000UL) != 0;
    if (listening && ours.count(inode) != 0)
      out.insert("unix " + (path.empty() ? std::string("(unnamed)") : path) + " inode " +
                 std::to_string(inode));
  }
}

}  // namespace detail

// Every socket of this process that accepts connections or datagrams from
// others: TCP in LISTEN, bound unconnected UDP, listening unix sockets.
// One description per socket, e.g. "tcp 00000000:1F90 inode 4242".
inline std::set<std::string> listening_sockets() {
  const auto ours = socket_inodes();
  std::set<std::string> out;
  detail::inet_listeners("tcp", "0A", ours, out);
  detail::inet_listeners("tcp6", "0A", ours, out);
  detail::inet_listeners("udp", "07", ours, out);
  detail::inet_listeners("udp6", "07", ours, out);
  detail::unix_listeners(ours, out);
  return out;
}

// Built with AddressSanitizer or ThreadSanitizer: memory figures describe
// the sanitizer's shadow and quarantine, not the program, so skip them.
constexpr bool sanitized() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  return true;
#else
  return false;
#endif
#else
  return false;
#endif
}

}  // namespace proc_stats
