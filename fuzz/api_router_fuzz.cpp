// The v1 API below the socket: a request (as text, see fuzz/README.md) from one of a few
// peers through the real Router, handlers, strict JSON bodies, pagination and the real IAM
// services (keyd/iam/authority) on a temp SQLite store. A client's request must never make a
// handler fail with an unexpected exception (500), and every response must be well-formed.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/support/api_world.h"

namespace {

// The store grows with every accepted POST: start afresh now and then so that executions
// stay fast and comparable.
constexpr int kInputsPerWorld = 2000;

std::unique_ptr<portal::fuzz::ApiWorld> world;
int inputs_in_world = 0;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return 0;
    if (!world || ++inputs_in_world > kInputsPerWorld) {
        world.reset();
        world = std::make_unique<portal::fuzz::ApiWorld>();
        inputs_in_world = 0;
    }
    const auto& peers = world->peers();
    portal::api::Request req;
    req.peer = {4242, peers[data[0] % peers.size()], 0};
    if (!portal::fuzz::parse_request_text(world->expand({reinterpret_cast<const char*>(data + 1), size - 1}), req)) return 0;

    const portal::api::Response resp = world->dispatch(req);
    if (resp.status == 500 || resp.status < 200 || resp.status > 599) std::abort();
    if (resp.status == 204 && !resp.body.empty()) std::abort();
    if (!resp.body.empty()) {
        // Every body is JSON; an error is {"code", "message"[, "errors"]}.
        const auto body = nlohmann::json::parse(resp.body, nullptr, false);
        if (body.is_discarded()) std::abort();
        if (resp.status >= 400 && !(body.is_object() && body.contains("code") && body.contains("message"))) std::abort();
    }
    return 0;
}
