#include "util/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace orp::util {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void fail(const char* what, const fs::path& path) {
  throw file_error(path.string() + ": " + what + ": " + std::strerror(errno));
}

}  // namespace

void create_private_directories(const fs::path& dir) {
  if (dir.empty()) return;
  std::vector<fs::path> missing;
  for (fs::path p = dir; !p.empty(); p = p.parent_path()) {
    std::error_code ec;
    if (fs::exists(p, ec)) break;
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it)
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) fail("cannot create directory", *it);
}

namespace {

fs::path directory_of(const fs::path& target) {
  return target.has_parent_path() ? target.parent_path() : fs::path(".");
}

// Creates the target's directories and a fresh temporary file beside it; returns its descriptor.
int create_temporary(const fs::path& target, std::string& temp) {
  const fs::path dir = directory_of(target);
  create_private_directories(dir);
  std::string name = ".";  // appended, not "." + string: GCC 12 warns on that falsely
  name.append(target.filename().string()).append(".XXXXXX");
  temp = (dir / name).string();
  const int fd = ::mkstemp(temp.data());  // O_CREAT|O_EXCL, mode 0600 until fchmod
  if (fd < 0) fail("cannot create a temporary file", target);
  return fd;
}

}  // namespace

void check_atomic_write(const fs::path& target) {
  std::string temp;
  ::close(create_temporary(target, temp));
  ::unlink(temp.c_str());
}

void write_file_atomically(const fs::path& target, std::string_view data, mode_t mode) {
  const fs::path dir = directory_of(target);
  std::string temp;
  const int fd = create_temporary(target, temp);
  auto abandon = [&](const char* what) {
    const int saved = errno;
    ::close(fd);
    ::unlink(temp.c_str());
    errno = saved;
    fail(what, target);
  };
  if (::fchmod(fd, mode) != 0) abandon("cannot set the file mode");
  for (std::size_t done = 0; done < data.size();) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) abandon("cannot write");
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon("cannot sync");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    fail("cannot write", target);
  }
  if (::rename(temp.c_str(), target.c_str()) != 0) {
    const int saved = errno;
    ::unlink(temp.c_str());
    errno = saved;
    fail("cannot replace", target);
  }
  // The rename itself is durable only once the directory entry is synced.
  if (const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace orp::util
