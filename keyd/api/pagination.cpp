#include "keyd/api/pagination.h"
#include "keyd/api/percent_encoding.h"

#include <charconv>

#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

std::int64_t parse_int(const Request& req, const char* name, std::int64_t dflt, std::int64_t lo, std::int64_t hi) {
    auto it = req.query.find(name);
    if (it == req.query.end()) return dflt;
    std::int64_t v = 0;
    const auto& s = it->second;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v < lo || v > hi)
        throw iam::ApiError::bad_request(std::string(name) + " must be an integer between " + std::to_string(lo) +
                                         " and " + std::to_string(hi));
    return v;
}

std::string page_url(const Request& req, std::int64_t page, std::int64_t per_page) {
    std::string url = req.path + "?";
    for (const auto& [k, v] : req.query)
        if (k != "page" && k != "per_page") url += percent_encode(k) + "=" + percent_encode(v) + "&";
    url += "page=" + std::to_string(page) + "&per_page=" + std::to_string(per_page);
    return url;
}

}  // namespace

iam::PageRequest parse_page(const Request& req) {
    iam::PageRequest pg;
    pg.page = parse_int(req, "page", 1, 1, 1000000);
    pg.per_page = parse_int(req, "per_page", 20, 1, 100);
    return pg;
}

void add_page_headers(Response& resp, const Request& req, const iam::PageRequest& pg, std::int64_t total) {
    const std::int64_t last = std::max<std::int64_t>(1, (total + pg.per_page - 1) / pg.per_page);
    std::string link = "<" + page_url(req, 1, pg.per_page) + ">; rel=\"first\"";
    if (pg.page > 1) link += ", <" + page_url(req, std::min(pg.page - 1, last), pg.per_page) + ">; rel=\"prev\"";
    if (pg.page < last) link += ", <" + page_url(req, pg.page + 1, pg.per_page) + ">; rel=\"next\"";
    link += ", <" + page_url(req, last, pg.per_page) + ">; rel=\"last\"";
    resp.headers.emplace_back("link", link);
    resp.headers.emplace_back("x-total", std::to_string(total));
    resp.headers.emplace_back("x-total-pages", std::to_string(last));
    resp.headers.emplace_back("x-page", std::to_string(pg.page));
    resp.headers.emplace_back("x-per-page", std::to_string(pg.per_page));
}

}  // namespace portal::api
