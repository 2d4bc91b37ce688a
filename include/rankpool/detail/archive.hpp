// Boost.Serialization binary archives over plain byte buffers.
#pragma once

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/collection_size_type.hpp>

#include <cstddef>
#include <stdexcept>
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
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }
};

// Boost's binary input archive, except that it never trusts a length it
// reads: Boost sizes a std::string, and resizes or reserves a container, from
// the length on the wire before reading a single element, so a corrupt or
// hostile length of 2^40 was an allocation of that size. Here a string may
// claim no more characters, and a container no more elements, than there are
// bytes left in the buffer: every element takes at least one byte (a
// container of values that serialize to nothing is the one thing this
// refuses). What a length can cost is then bounded by the message size times
// an element's sizeof. The bytes on the wire are Boost's own binary format,
// so a binary_oarchive writes what this reads.
// Derived from binary_iarchive_impl, as Boost asks (not from binary_iarchive),
// so these overloads are found through Boost's static polymorphism; its
// templates are instantiated for this class in src/wire/archive.cpp.
class bounded_binary_iarchive
    : public boost::archive::binary_iarchive_impl<bounded_binary_iarchive, char,
                                                  std::char_traits<char>> {
  using base =
      boost::archive::binary_iarchive_impl<bounded_binary_iarchive, char, std::char_traits<char>>;

 public:
  bounded_binary_iarchive(memory_source& source, unsigned flags)
      : base(source, flags), source_(source) {
    init(flags);
  }

 private:
  friend class boost::archive::detail::interface_iarchive<bounded_binary_iarchive>;
  friend class boost::archive::basic_binary_iarchive<bounded_binary_iarchive>;
  friend class boost::archive::basic_binary_iprimitive<bounded_binary_iarchive, char,
                                                       std::char_traits<char>>;
  friend class boost::archive::load_access;

  template <class T>
  void load_override(T& t) {
    base::load_override(t);
  }
  void load_override(boost::serialization::collection_size_type& count) {
    base::load_override(count);
    check_length(count, 1);
  }

  template <class T>
  void load(T& t) {
    base::load(t);
  }
  // Boost copies the byte straight into the bool: a byte other than 0 or 1
  // made a bool with no valid value (undefined behaviour when read).
  void load(bool& b) {
    static_assert(sizeof(bool) == 1, "Boost writes a bool as sizeof(bool) bytes");
    unsigned char byte = 0;
    load_binary(&byte, 1);
    if (byte > 1) throw std::invalid_argument("rankpool: a bool on the wire is neither 0 nor 1");
    b = byte == 1;
  }
  void load(std::string& s) { load_string(s); }
  void load(std::wstring& s) { load_string(s); }

  template <class String>
  void load_string(String& s) {
    std::size_t length = 0;
    base::load(length);
    check_length(length, sizeof(typename String::value_type));
    s.resize(length);
    if (length > 0) load_binary(&s[0], length * sizeof(typename String::value_type));
  }

  void check_length(std::size_t length, std::size_t element_bytes) const {
    if (length > source_.remaining() / element_bytes) {
      throw std::length_error("rankpool: a value claims " + std::to_string(length) +
                              " elements but its message holds fewer bytes");
    }
  }

  const memory_source& source_;
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
  bounded_binary_iarchive& archive() { return ar_; }
  std::size_t remaining() const noexcept { return source_.remaining(); }

 private:
  memory_source source_;
  bounded_binary_iarchive ar_;
};

using oarchive = boost::archive::binary_oarchive;

}  // namespace rankpool::detail

// As Boost does for its own archives: exported types and the bitwise copy of
// arrays of arithmetic values (without it a std::vector<double> would be
// read in another layout than binary_oarchive writes it).
BOOST_SERIALIZATION_REGISTER_ARCHIVE(rankpool::detail::bounded_binary_iarchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(rankpool::detail::bounded_binary_iarchive)
