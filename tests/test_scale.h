// How many members the scale tests seed: 10,000 (the normal case: DESIGN.md) in optimized
// builds, a fifth of it under ASan+UBSan, where the same code paths run ~5x slower and what the
// run looks for is memory and undefined-behaviour errors, which do not need the full count.
// The optimized suite (the packaged build) always runs the full 10,000.
#pragma once

namespace portal::test {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr int kScaleMembers = 2000;
#else
inline constexpr int kScaleMembers = 10000;
#endif

}  // namespace portal::test
