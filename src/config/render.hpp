#pragma once
// The documented config.ini and docs/configuration.md, rendered from the settings table.
#include <string>

namespace orp::config {

std::string render_default_ini();
std::string render_markdown_reference();
// The settings list shown at the end of --help.
std::string render_help_footer();

}  // namespace orp::config
