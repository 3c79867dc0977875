// config.ini reader on arbitrary text: settings or config_error. Once loaded, every setting must
// read back through its typed accessor without throwing, since validation already accepted it.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "config/settings.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using orp::config::value_type;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  orp::config::settings settings;
  try {
    settings.load_text(text, "fuzz.ini");
  } catch (const orp::config::config_error&) {
    return 0;
  }
  for (const auto& s : orp::config::all_settings()) {
    const std::string dotted = std::string(s.section) + "." + std::string(s.key);
    switch (s.type) {
      case value_type::integer:
        (void)settings.integer(dotted);
        break;
      case value_type::seconds:
        (void)settings.seconds(dotted);
        (void)settings.duration(dotted);
        break;
      case value_type::size:
        (void)settings.size(dotted);
        break;
      case value_type::endpoint:
        (void)settings.address(dotted);
        break;
      case value_type::host_list:
        (void)settings.list(dotted);
        break;
      case value_type::path:
        (void)settings.path(dotted);
        break;
      default:
        (void)settings.text(dotted);
        break;
    }
  }
  return 0;
}
