#pragma once
// Reads a file that must be a regular one, for files the proxy re-reads while it runs (keys.csv on
// a reload, config.ini to see whether it changed): a directory, a FIFO or a device put in its place
// is refused instead of read as empty, or blocking the main loop in open() or read().
#include <cstddef>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace orp::util {

struct read_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The whole content; throws read_error naming the file ("is a directory", "is not a regular file",
// "is larger than N bytes", or the OS error).
std::string read_regular_file(const std::filesystem::path& file, std::size_t max_bytes);

}  // namespace orp::util
