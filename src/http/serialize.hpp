#pragma once
// Heads back to wire form. The caller chooses the headers; these only write them out.
#include <string>
#include <string_view>

#include "http/parser.hpp"

namespace orp::http {

// "METHOD target HTTP/1.1\r\n", each header, "\r\n". An empty override keeps head.target.
std::string serialize_request_head(const request_head& head, std::string_view target_override = {});

// "HTTP/1.1 status reason\r\n", each header, "\r\n".
std::string serialize_response_head(const response_head& head);

}  // namespace orp::http
