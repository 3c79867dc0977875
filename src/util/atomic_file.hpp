#pragma once
// Writing a file so that a reader (or a crash) sees the old content or the new, never half.
#include <sys/types.h>

#include <filesystem>
#include <stdexcept>
#include <string_view>

namespace orp::util {

struct file_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A fresh temporary in the target's directory (mkstemp: O_EXCL, then `mode`), fsync, rename over
// the target, fsync the directory. Missing parent directories are created with mode 0700.
// Throws file_error naming the file and the failing step.
void write_file_atomically(const std::filesystem::path& target, std::string_view data, mode_t mode = 0644);

// Checks, before there is anything to write, that write_file_atomically(target) can succeed:
// creates the missing directories, then creates and removes a temporary file beside the target
// (the rename needs write access to the directory, not to the target). Throws file_error.
void check_atomic_write(const std::filesystem::path& target);

// Creates missing directories of `dir` with mode 0700 (private: keys and state live there).
void create_private_directories(const std::filesystem::path& dir);

}  // namespace orp::util
