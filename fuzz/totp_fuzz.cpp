// What users type as 2FA codes and what the store hands back (shared/totp, keyd/tfa):
// TOTP codes checked against a secret and a replay mark, recovery codes against a stored
// hash, sealed secrets opened from the database, and otpauth:// URIs built from names.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <fuzzer/FuzzedDataProvider.h>

#include "fuzz/support/temp_dir.h"
#include "keyd/tfa/recovery_codes.h"
#include "keyd/tfa/secret_box.h"
#include "shared/totp.h"

namespace {

using namespace portal;

struct Fixture {
    fuzz::TempDir dir;
    SecretBox box = SecretBox::load_or_create(dir.path() / "tfa.key");
    std::string recovery_hash = hash_recovery_code("abcd-efgh-jkmn");
};

bool uri_safe(const std::string& uri) {
    for (unsigned char c : uri)
        if (c <= 0x20 || c >= 0x7f || c == '#' || c == '"' || c == '<' || c == '>') return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fx;
    FuzzedDataProvider in(data, size);
    TotpParams params;
    params.algorithm = in.PickValueInArray({TotpAlgorithm::sha1, TotpAlgorithm::sha256, TotpAlgorithm::sha512});
    params.digits = in.ConsumeIntegralInRange(6, 8);
    params.period = in.ConsumeBool() ? 30 : 60;
    const auto secret = in.ConsumeBytes<std::uint8_t>(in.ConsumeIntegralInRange(1, 64));
    const auto now = in.ConsumeIntegralInRange<std::int64_t>(0, std::int64_t{1} << 40);
    const auto last = in.ConsumeIntegralInRange<std::int64_t>(-1, now / params.period + 2);
    const std::string code = in.ConsumeRandomLengthString(16);
    switch (in.ConsumeIntegralInRange(0, 3)) {
        case 0: {
            const auto check = totp_verify(secret, code, now, last, params);
            const std::int64_t step = now / params.period;
            if (check.ok && (check.step <= last || check.step < step - 1 || check.step > step + 1)) std::abort();
            if (check.ok && code.size() != static_cast<std::size_t>(params.digits)) std::abort();
            // The current code is accepted once and only once.
            const auto fresh = totp_verify(secret, totp_code(secret, now, params), now, step - 2, params);
            if (!fresh.ok) std::abort();
            // (A code of step-1 may equal this one by chance: then the replay check below
            // would rightly accept it for the later step.)
            if (fresh.step == step && totp_verify(secret, totp_code(secret, now, params), now, fresh.step, params).ok)
                std::abort();
            break;
        }
        case 1: {
            // A well-formed hash costs a PBKDF2 run (10,000 rounds): only now and then.
            const std::string stored =
                in.ConsumeIntegralInRange(0, 15) == 0 ? fx.recovery_hash : in.ConsumeRandomLengthString(128);
            (void)verify_recovery_code(code, stored);
            break;
        }
        case 2: {
            const std::string sealed = in.ConsumeRemainingBytesAsString();
            if (fx.box.open(sealed, "usr_fuzz")) std::abort();  // forged: never opens
            const std::string good = fx.box.seal(secret, "usr_fuzz");
            if (fx.box.open(good, "usr_other") || fx.box.open(good, "usr_fuzz") != secret) std::abort();
            break;
        }
        default: {
            const std::string issuer = in.ConsumeRandomLengthString(64);
            const std::string account = in.ConsumeRemainingBytesAsString();
            if (!uri_safe(otpauth_uri(issuer, account, secret, params))) std::abort();
            break;
        }
    }
    return 0;
}
