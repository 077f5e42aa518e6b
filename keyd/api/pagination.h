// page/per_page parsing and the Link/X-Total headers of PORTAL.md §3.
#pragma once
#include <cstdint>

#include "keyd/api/http_types.h"
#include "keyd/iam/paging.h"

namespace portal::api {

iam::PageRequest parse_page(const Request& req);  // 400 naming the bad parameter
void add_page_headers(Response& resp, const Request& req, const iam::PageRequest& pg, std::int64_t total);

}  // namespace portal::api
