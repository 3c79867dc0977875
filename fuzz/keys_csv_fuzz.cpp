// keys.csv reader on arbitrary text: a key pool or keys_file_error, nothing else.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "keys/keys_csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const auto records = orp::keys::parse_keys_csv(text, "fuzz.csv");
    for (const auto& record : records) {
      if (record.key.reveal().empty() || record.key.display().empty() || record.line < 1) __builtin_trap();
    }
  } catch (const orp::keys::keys_file_error&) {
  }
  return 0;
}
