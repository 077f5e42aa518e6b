#!/bin/bash
# End to end: members published through keyd/userdb (drop-ins in /run/userdb + the Varlink
# provider in /run/systemd/userdb) resolve through the real nss-systemd: getent, id, userdbctl.
# Runs in a private mount namespace with tmpfs over both directories; nothing leaks out.
# Usage: userdb_nss_test.sh <unit_tests binary>   (its hidden "[userdb_e2e]" case is the driver)
# Exit 0 pass, 1 fail, 77 skipped (not root, no unshare, no libnss-systemd).
set -u
BIN=${1:?usage: $0 <unit_tests binary>}
skip() { echo "SKIP: $*"; exit 77; }

if [ "${2:-}" != "--inside" ]; then
    [ "$(id -u)" = 0 ] || skip "needs root"
    command -v unshare >/dev/null || skip "unshare not found"
    ls /lib/*-linux-gnu*/libnss_systemd.so.2 /usr/lib/*-linux-gnu*/libnss_systemd.so.2 >/dev/null 2>&1 ||
        skip "libnss-systemd not installed"
    grep -Eq '^passwd:.*[[:space:]]systemd([[:space:]]|$)' /etc/nsswitch.conf &&
        grep -Eq '^group:.*[[:space:]]systemd([[:space:]]|$)' /etc/nsswitch.conf ||
        skip "systemd is not in /etc/nsswitch.conf"
    getent group sudo >/dev/null || skip "no local group sudo"
    unshare -m --propagation private true 2>/dev/null || skip "cannot create a mount namespace"
    unshare -m --propagation private "$0" "$BIN" --inside
    rc=$?
    # Nothing of it is visible outside the namespace.
    if getent passwd e2eowner >/dev/null; then echo "FAIL: e2eowner visible outside the namespace"; rc=1; fi
    exit $rc
fi

# --- inside the private mount namespace ---------------------------------------------------
fails=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }

mkdir -p /run/userdb /run/systemd/userdb
mount -t tmpfs tmpfs /run/userdb || exit 1
mount -t tmpfs tmpfs /run/systemd/userdb || exit 1

# Someone else's drop-in: its name must count as a local user, its files stay untouched.
printf '{"userName":"e2eclash","uid":233199,"gid":233199,"homeDirectory":"/tmp","shell":"/bin/sh","disposition":"regular","service":"io.other"}\n' \
    > /run/userdb/e2eclash.user
ln -s e2eclash.user /run/userdb/233199.user
foreign_sum=$(cat /run/userdb/e2eclash.user | md5sum)

W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
mkfifo "$W/out"
PORTAL_USERDB_E2E=1 "$BIN" "[userdb_e2e]" >"$W/out" 2>"$W/err" &
driver=$!
exec 3<"$W/out"
wait_for() {  # wait_for <line>: read the driver's stdout until that line (20 s)
    local line
    while IFS= read -r -t 20 line <&3; do
        echo "driver: $line" >>"$W/log"
        [ "$line" = "$1" ] && return 0
    done
    return 1
}
if ! wait_for READY; then
    cat "$W/log" "$W/err"; kill "$driver" 2>/dev/null; echo "FAIL: driver did not start"; exit 1
fi
grep -E '^driver: (warning|published|replanned)' "$W/log"

# Identity (drop-ins) and memberships (provider).
check "getent passwd by name" test "$(getent passwd e2eowner)" = "e2eowner:x:233101:233101:e2eowner:/home/e2eowner:/bin/bash"
check "getent passwd by uid" test "$(getent passwd 233101 | cut -d: -f1)" = e2eowner
check "per-user group" test "$(getent group e2eowner | cut -d: -f1,3)" = "e2eowner:233101"
check "per-user group by gid" test "$(getent group 233102 | cut -d: -f1)" = e2emgr
check "2FA group served by the provider" test "$(getent group portal-2fa | cut -d: -f1,3)" = "portal-2fa:59990"
owner_groups=" $(id -nG e2eowner) "
mgr_groups=" $(id -nG e2emgr) "
echo "id e2eowner: $(id e2eowner)"; echo "id e2emgr: $(id e2emgr)"
check "owner is in sudo" grep -q ' sudo ' <<<"$owner_groups"
check "owner with 2FA is in portal-2fa" grep -q ' portal-2fa ' <<<"$owner_groups"
check "manager is not in sudo" bash -c "! grep -q ' sudo ' <<<'$mgr_groups'"
check "manager without 2FA is not in portal-2fa" bash -c "! grep -q ' portal-2fa ' <<<'$mgr_groups'"
check "manager is in its own group" grep -q ' e2emgr ' <<<"$mgr_groups"

# Deactivated: resolves, locked, no groups; invited and colliding members are not published.
check "locked member resolves" test "$(getent passwd e2egone | cut -d: -f3)" = 233103
check "locked member has no extra groups" test "$(id -nG e2egone)" = e2egone
check "locked member: drop-in says locked" grep -q '"locked":true' /run/userdb/e2egone.user
# nss-systemd turns "locked" into an account expired on day 1 (what PAM's account phase refuses).
echo "getent shadow: $(getent shadow e2egone) / $(getent shadow e2eowner)"
check "locked member: shadow entry is expired" test "$(getent shadow e2egone | cut -d: -f8)" = 1
check "active member: shadow entry is not expired" test -z "$(getent shadow e2eowner | cut -d: -f8)"
check "invited member is not published" bash -c '! getent passwd e2einv'
check "uid clash is not published" bash -c '! getent passwd e2euidclash'
check "a foreign name stays foreign" test "$(getent passwd e2eclash | cut -d: -f3)" = 233199
check "foreign drop-in untouched" test "$(cat /run/userdb/e2eclash.user | md5sum)" = "$foreign_sum"
check "warning for the name clash" grep -q 'warning: e2eclash: name exists locally' "$W/log"
check "warning for the uid clash" grep -q 'warning: e2euidclash: uid 1 exists locally' "$W/log"
check "replanning keeps our own users" grep -q '^driver: replanned: e2eowner,e2emgr,e2egone$' "$W/log"
check "privileged file is 0600" test "$(stat -c %a /run/userdb/e2eowner.user-privileged)" = 600
check "provider socket is 0666" test "$(stat -c %a /run/systemd/userdb/io.portal.keyd)" = 666
check "enumeration lists each user once" test "$(getent passwd | grep -c '^e2eowner:')" = 1
check "enumeration lists each group once" test "$(getent group | grep -c -e '^e2eowner:' -e '^portal-2fa:')" = 2
if command -v userdbctl >/dev/null; then
    out=$(userdbctl user e2egone 2>&1); echo "$out" | head -20
    check "userdbctl shows the locked member" grep -Eiq 'locked: *yes' <<<"$out"
    check "userdbctl sees the memberships" grep -q portal-2fa <<<"$(userdbctl user e2eowner 2>&1)"
    check "userdbctl: root gets the keys" grep -q '^ssh-ed25519 .* e2eowner$' <<<"$(userdbctl ssh-authorized-keys e2eowner 2>&1)"
    check "userdbctl lists each user once" test "$(userdbctl user 2>/dev/null | grep -c ' e2eowner ')" = 1
else
    echo "note: userdbctl not installed (package systemd-userdbd), skipping its checks"
fi

# A change: e2emgr removed. Its files go; the others stay.
kill -USR1 "$driver"
if wait_for PHASE2; then
    check "removed member no longer resolves" bash -c '! getent passwd e2emgr && ! getent passwd 233102'
    check "removed member's files are gone" bash -c '! ls /run/userdb | grep -q -e e2emgr -e 233102'
    check "others still resolve" test "$(id -nG e2eowner | tr ' ' '\n' | grep -c -x -e sudo -e portal-2fa)" = 2
else
    fail "driver did not publish phase 2"
fi

# Without the provider: users resolve from the drop-ins, the extra groups are gone (fail safe).
kill -TERM "$driver"
wait "$driver"; drc=$?
check "driver exited cleanly" test "$drc" = 0
check "provider socket removed" test ! -e /run/systemd/userdb/io.portal.keyd
check "users resolve without the provider" test "$(getent passwd e2eowner | cut -d: -f3)" = 233101
check "no extra groups without the provider" test "$(id -nG e2eowner)" = e2eowner
if [ "$fails" != 0 ]; then
    echo "--- driver output"; cat "$W/log" "$W/err"
fi
echo "result: $([ "$fails" = 0 ] && echo PASS || echo "FAIL ($fails)")"
[ "$fails" = 0 ]
