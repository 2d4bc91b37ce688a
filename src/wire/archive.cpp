// Boost.Serialization's library instantiates its archive templates only for
// its own archives; these are the same instantiations for ours (see
// bounded_binary_iarchive in rankpool/detail/archive.hpp).
#include "rankpool/detail/archive.hpp"

#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>

namespace boost::archive {

template class detail::archive_serializer_map<rankpool::detail::bounded_binary_iarchive>;
template class basic_binary_iarchive<rankpool::detail::bounded_binary_iarchive>;
template class basic_binary_iprimitive<rankpool::detail::bounded_binary_iarchive, char,
                                       std::char_traits<char>>;

}  // namespace boost::archive
