// Random sequences of the writes the API makes (members, roles, statuses, keys, 2FA, Enforce
// 2FA, several writes in one transaction) on a real store with two accounts, for property
// tests of what follows the store: the login view, the refresher.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "keyd/store/store.h"
#include "tests/unit/support/temp_dir.h"

namespace portal::test {

// A store with two accounts; the view follows the first. Every operation is one of the
// writes the API makes, on random members, keys and flags.
struct RandomWorld {
    TempDir dir{"incremental-view"};
    std::unique_ptr<store::Store> store = store::Store::open(dir.path() / "state" / "store.db");
    std::mt19937 rng;
    Account followed = store->accounts().create("Followed");
    Account other = store->accounts().create("Other");
    std::vector<std::string> users;
    std::vector<std::pair<std::string, std::string>> keys;  // account id, fingerprint
    int serial = 0;

    explicit RandomWorld(unsigned seed) : rng(seed) {}

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
    const Account& some_account() { return pick(4) == 0 ? other : followed; }
    Role some_role() { return std::array{Role::owner, Role::manager, Role::support}[pick(3)]; }
    MemberStatus some_status() {
        return std::array{MemberStatus::active, MemberStatus::active, MemberStatus::invited,
                          MemberStatus::deactivated}[pick(4)];
    }

    void step() {
        const std::size_t op = users.empty() ? 0 : pick(11);
        switch (op) {
            case 0: {  // a new member
                User u = store->users().create("u" + std::to_string(++serial) + "@example.com", "U");
                users.push_back(u.id);
                store->memberships().put(Membership{some_account().id, u.id, some_role(), some_status(), "", ""});
                break;
            }
            case 1:  // role or status changes, or a membership in the other account too
                store->memberships().put(
                    Membership{some_account().id, users[pick(users.size())], some_role(), some_status(), "", ""});
                break;
            case 2:
                store->memberships().remove(some_account().id, users[pick(users.size())]);
                break;
            case 3: {  // a user deleted; half the time someone gets their email (and unix name) at once
                const auto i = pick(users.size());
                const auto gone = store->users().get(users[i]);
                store->users().remove(users[i]);
                users.erase(users.begin() + static_cast<std::ptrdiff_t>(i));
                if (gone && pick(2) == 0) {
                    User u = store->users().create(gone->email, "Again");
                    users.push_back(u.id);
                    store->memberships().put(Membership{followed.id, u.id, some_role(), MemberStatus::active, "", ""});
                }
                break;
            }
            case 4:
            case 5: {  // a key, if the user is a member there
                const Account& a = some_account();
                const std::string user = users[pick(users.size())];
                if (!store->memberships().get(a.id, user)) break;
                SshKey k;
                k.account_id = a.id;
                k.user_id = user;
                k.name = "key" + std::to_string(++serial);
                k.fingerprint = "aa:" + std::to_string(serial);
                k.fingerprint_sha256 = "SHA256:k" + std::to_string(serial);
                k.public_key = "ssh-ed25519 AAAAk" + std::to_string(serial);
                k.type = "ssh-ed25519";
                k.bits = 256;
                store->ssh_keys().insert(k);
                keys.emplace_back(a.id, k.fingerprint);
                break;
            }
            case 6: {  // rename a key (it may be gone with its member: then nothing happens)
                if (keys.empty()) break;
                const auto& [account, fp] = keys[pick(keys.size())];
                auto k = store->ssh_keys().get(account, fp);
                if (!k) break;
                k->name = "renamed" + std::to_string(++serial);
                store->ssh_keys().update(*k);
                break;
            }
            case 7: {
                if (keys.empty()) break;
                const auto i = pick(keys.size());
                store->ssh_keys().remove(keys[i].first, keys[i].second);
                keys.erase(keys.begin() + static_cast<std::ptrdiff_t>(i));
                break;
            }
            case 8: {  // 2FA on or off
                store::TfaRecord r;
                r.enabled = pick(2) == 0;
                r.secret_ciphertext = {1, 2, 3};
                store->tfa().put(users[pick(users.size())], r);
                break;
            }
            case 9: {
                Account a = some_account();
                a.enforce_2fa = pick(2) == 0;
                store->accounts().update(a);
                break;
            }
            default: {  // several writes in one transaction
                store->transaction([&] {
                    for (int i = 0; i < 3; ++i) {
                        if (users.empty()) break;
                        store->memberships().put(
                            Membership{followed.id, users[pick(users.size())], some_role(), some_status(), "", ""});
                    }
                    store->memberships().remove(followed.id, users[pick(users.size())]);
                });
                break;
            }
        }
    }
};


}  // namespace portal::test
