// Boost.Serialization binary archives over plain byte buffers.
#pragma once

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>

#include <cstddef>
#include <streambuf>
#include <string>

namespace rankpool::detail {

// No header (it costs ~40 bytes and a version check per call) and no object
// tracking (calls carry values, never pointer graphs).
inline constexpr unsigned archive_flags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

// A streambuf that appends to a std::string, so an archive writes straight
// into the buffer that is later sent, with no stringstream copy.
class string_sink : public std::streambuf {
 public:
  explicit string_sink(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string& out_;
};

// A read-only streambuf over bytes owned by someone else.
class memory_source : public std::streambuf {
 public:
  memory_source(const char* data, std::size_t size) {
    char* p = const_cast<char*>(data);  // get area is never written through
    setg(p, p, p + size);
  }
};

class oarchive_buffer {
 public:
  explicit oarchive_buffer(std::string& out) : sink_(out), ar_(sink_, archive_flags) {}
  boost::archive::binary_oarchive& archive() { return ar_; }

 private:
  string_sink sink_;
  boost::archive::binary_oarchive ar_;
};

class iarchive_buffer {
 public:
  iarchive_buffer(const char* data, std::size_t size)
      : source_(data, size), ar_(source_, archive_flags) {}
  boost::archive::binary_iarchive& archive() { return ar_; }

 private:
  memory_source source_;
  boost::archive::binary_iarchive ar_;
};

using oarchive = boost::archive::binary_oarchive;
using iarchive = boost::archive::binary_iarchive;

}  // namespace rankpool::detail
