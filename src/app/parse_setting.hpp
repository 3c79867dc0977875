#pragma once
// Runs the parser of one setting's value and names the setting when it refuses, so that every
// command reports a bad value the same way: "upstream.api_url: must be an https:// URL".
#include <stdexcept>
#include <string>
#include <string_view>

namespace orp::app {

template <class F>
auto parse_setting(std::string_view name, F&& parse) {
  try {
    return parse();
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(name) + ": " + e.what());
  }
}

}  // namespace orp::app
