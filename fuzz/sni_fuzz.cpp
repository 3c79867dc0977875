// peek_sni on arbitrary bytes, and on a prefix of them: a prefix either needs more or already
// gives the answer the whole input gives.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "proxy/sni.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using orp::proxy::peek_sni;
  using orp::proxy::sni_status;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto whole = peek_sni(input);
  if (whole.status == sni_status::found && whole.host_name.empty()) __builtin_trap();
  if (whole.status != sni_status::found && !whole.host_name.empty()) __builtin_trap();
  if (size > 0) {
    const auto prefix = peek_sni(input.substr(0, data[0] % size));
    if (prefix.status != sni_status::need_more &&
        (prefix.status != whole.status || prefix.host_name != whole.host_name)) {
      __builtin_trap();
    }
  }
  return 0;
}
