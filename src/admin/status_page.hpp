#pragma once
#include <string_view>

namespace orp::admin {

// A self-contained HTML page (no external assets) showing the key table and the request rate,
// refreshed every few seconds from /keys and /stats. A token given as #token=... in the URL is
// sent as Authorization: Bearer.
std::string_view status_page();

}  // namespace orp::admin
