#include "util/read_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace orp::util {

std::string read_regular_file(const std::filesystem::path& file, std::size_t max_bytes) {
  // O_NONBLOCK: opening a FIFO does not wait for a writer (and is then refused below).
  const int fd = ::open(file.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw read_error(file.string() + ": cannot read: " + std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } close_it{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw read_error(file.string() + ": cannot read: " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) throw read_error(file.string() + ": is a directory, not a file");
  if (!S_ISREG(st.st_mode)) throw read_error(file.string() + ": is not a regular file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    throw read_error(file.string() + ": is larger than " + std::to_string(max_bytes) + " bytes");
  std::string content;
  content.resize(static_cast<std::size_t>(st.st_size));
  std::size_t got = 0;
  while (got < content.size()) {
    const ssize_t n = ::read(fd, content.data() + got, content.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw read_error(file.string() + ": read error: " + std::strerror(errno));
    if (n == 0) break;  // shrank while read: what is there
    got += static_cast<std::size_t>(n);
  }
  content.resize(got);
  return content;
}

}  // namespace orp::util
