// Percent-encoding of request targets (RFC 3986 §2.1), shared by the server (query), the
// router (path segments, decoded only after splitting) and the Link headers of lists.
#pragma once
#include <map>
#include <string>
#include <string_view>

namespace portal::api {

// Decodes `in` into `out`; false on a malformed escape or a decoded NUL (which would
// truncate the string in any C API it later reaches). `plus_is_space` is for queries.
bool percent_decode(std::string_view in, bool plus_is_space, std::string& out);

// Encodes everything but RFC 3986 unreserved characters.
std::string percent_encode(std::string_view in);

// Splits an origin-form target into the raw path and the decoded query; false -> 400. The
// path stays encoded: the router splits it first and then decodes each segment, so that
// "%2F" is data inside a segment and never a separator.
bool parse_target(std::string_view target, std::string& path, std::multimap<std::string, std::string>& query);

}  // namespace portal::api
