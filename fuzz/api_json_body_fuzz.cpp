// Strict JSON request bodies (keyd/api/json_body): the first byte picks which fields are
// asked for and which are required, the rest is the body. What an accessor returns obeys
// the rules the handlers rely on; everything else is an ApiError 400/422 naming the field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "keyd/api/json_body.h"
#include "keyd/iam/errors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    const std::uint8_t pick = data[0];
    portal::api::Request req;
    req.method = "POST";
    req.target = req.path = "/v1/fuzz";
    if (pick & 0x80) req.headers.emplace_back("content-type", (pick & 0x40) ? "application/json; charset=utf-8" : "text/plain");
    req.body.assign(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        portal::api::JsonBody body(req);
        if (auto name = body.string("name", pick & 1, 100)) {
            if (name->size() > 100 || portal::api::text_problem(*name).has_value()) std::abort();
            if ((pick & 1) && name->empty()) std::abort();
        }
        if (auto email = body.string("email", pick & 2, 254)) {
            if (email->size() > 254 || portal::api::text_problem(*email).has_value()) std::abort();
        }
        (void)body.boolean("enforce_2fa", pick & 4);
        if (auto labels = body.labels("labels")) {
            if (labels->size() > 32) std::abort();
            for (const auto& [k, v] : *labels)
                if (k.empty() || k.size() > 63 || v.size() > 255 || portal::api::text_problem(k).has_value() ||
                    portal::api::text_problem(v).has_value())
                    std::abort();
        }
        if (pick & 8) body.finish();
    } catch (const portal::iam::ApiError& e) {
        if (e.status != 400 && e.status != 422) std::abort();
        if (e.status == 422 && e.errors.empty()) std::abort();  // 422 names the field
    }
    return 0;
}
