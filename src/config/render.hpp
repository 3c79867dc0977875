#pragma once
// The documented config.ini and docs/configuration.md, rendered from the settings table.
#include <string>

namespace orp::config {

std::string render_default_ini();
std::string render_markdown_reference();

}  // namespace orp::config
