#pragma once
// One running proxy per state file: two would overwrite each other's key state (and share a log).
// An advisory lock (flock) on "<file>.lock", held for the life of the process and dropped by the
// kernel when it ends, however it ends. The holder's PID is written into the lock file, for the
// message the second one gets.
#include <filesystem>
#include <stdexcept>
#include <string>

namespace orp::util {

class instance_lock {
 public:
  instance_lock() = default;
  instance_lock(instance_lock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  instance_lock& operator=(instance_lock&& other) noexcept;
  instance_lock(const instance_lock&) = delete;
  instance_lock& operator=(const instance_lock&) = delete;
  ~instance_lock();

  // Takes the lock on `guarded` + ".lock". Throws std::runtime_error naming the PID of the holder
  // when another process has it, or the OS error when the lock file cannot be made.
  static instance_lock acquire(const std::filesystem::path& guarded);

  bool held() const { return fd_ >= 0; }

 private:
  explicit instance_lock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace orp::util
