// BOOST_ASIO_SEPARATE_COMPILATION: Asio's and Asio.SSL's out-of-line code is compiled once, here.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
