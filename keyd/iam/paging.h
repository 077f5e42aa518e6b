// A page of a listing, as the API asks for it (page/per_page) and as the services answer.
#pragma once
#include <cstdint>
#include <vector>

namespace portal::iam {

struct PageRequest {
    std::int64_t page = 1;
    std::int64_t per_page = 20;
};

template <class T>
struct PageResult {
    std::vector<T> items;
    std::int64_t total = 0;
};

}  // namespace portal::iam
