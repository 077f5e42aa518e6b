// page/per_page parsing and the Link/X-Total headers built from the caller's query
// (keyd/api/pagination): input is a total, a routed path and query pairs.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <fuzzer/FuzzedDataProvider.h>

#include "keyd/api/pagination.h"
#include "keyd/iam/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const auto total = in.ConsumeIntegralInRange<std::int64_t>(0, 1'000'000'000);
    portal::api::Request req;
    req.method = "GET";
    // Only routed paths reach pagination, and those match fixed segments ("//" and a
    // trailing "/" included), so the path itself is not the caller's free text.
    req.path = in.PickValueInArray({"/v1/ssh_keys", "/v1/account/users", "//v1//ssh_keys/"});
    while (in.remaining_bytes() > 0) {
        std::string key = in.ConsumeRandomLengthString(32);
        std::string value = in.ConsumeRandomLengthString(32);
        req.query.emplace(std::move(key), std::move(value));
    }
    try {
        const auto pg = portal::api::parse_page(req);
        if (pg.page < 1 || pg.page > 1'000'000 || pg.per_page < 1 || pg.per_page > 100) std::abort();
        portal::api::Response resp;
        portal::api::add_page_headers(resp, req, pg, total);
        // Header values go out verbatim: the caller's query must not break them.
        for (const auto& [name, value] : resp.headers)
            for (unsigned char c : value)
                if (c < 0x20 || c == 0x7f) std::abort();
    } catch (const portal::iam::ApiError& e) {
        if (e.status != 400) std::abort();
    }
    return 0;
}
