#pragma once
// A fresh private directory under the system temp dir, removed with everything in it at the end.
#include <stdlib.h>

#include <filesystem>
#include <string>

namespace orp::test {

class scratch_dir {
 public:
  explicit scratch_dir(const std::string& prefix = "orp-test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~scratch_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace orp::test
