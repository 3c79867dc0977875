#pragma once
// Permission bits of files that hold secrets (the CA key, keys.csv).
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>

namespace orp::util {

// "0644": a mode as chmod takes it.
inline std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The file's mode when group or others may read, write or run it; nullopt when only its owner may
// (or it cannot be looked at).
inline std::optional<mode_t> mode_open_to_others(const std::filesystem::path& file) {
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0 || (st.st_mode & (S_IRWXG | S_IRWXO)) == 0) return std::nullopt;
  return st.st_mode;
}

}  // namespace orp::util
