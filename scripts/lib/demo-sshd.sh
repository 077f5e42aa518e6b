# Sourced by scripts/demo and scripts/lib/demo-agent: a real sshd on 127.0.0.1 with the
# shipped drop-in (config/sshd_config.d/portal-keyd.conf) and PAM stack
# (config/pam.d/sshd.example), both pointed at one portal-keyd's login socket and state.
# Needs ROOT (the checkout), W (the demo's work dir), HELPER and PAM_MODULE.

# demo_sshd DIR PORT RUNTIME_DIR: writes DIR/{hostkey,pam.d,sshd_config}, starts sshd (log:
# DIR/sshd.log) and prints its pid.
demo_sshd() {
  local dir=$1 port=$2 run=$3
  ssh-keygen -q -t ed25519 -N '' -f "$dir/hostkey"
  mkdir -p "$dir/pam.d"
  local args="socket=$run/login.sock state=$run/login-state"
  # config/pam.d/sshd.example with the module by path (pam_wrapper: /etc/pam.d is untouched).
  cat > "$dir/pam.d/sshd" <<PAM
auth     [success=done ignore=ignore default=die]  $PAM_MODULE $args
auth     requisite pam_deny.so
account  [success=ok ignore=ignore default=bad]    $PAM_MODULE $args
account  required  pam_unix.so
session  [success=ok default=ignore]               $PAM_MODULE $args
session  required  pam_unix.so
PAM
  printf 'auth required pam_deny.so\naccount required pam_deny.so\n' > "$dir/pam.d/other"
  # The package's drop-in as it is, with the helper's path pointed at the copy (and at this
  # daemon's socket and state), and a helper user that exists without the package.
  local packaged=/usr/libexec/portal-keyd/authorized-keys
  {
    printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s/hostkey\nPidFile %s/sshd.pid\n' "$port" "$dir" "$dir"
    printf 'PasswordAuthentication no\nAuthorizedKeysFile none\nPrintMotd no\n'
    sed -e "/^AuthorizedKeysCommand /s|$packaged |$HELPER --socket=$run/login.sock --state=$run/login-state |" \
        -e 's|^AuthorizedKeysCommandUser .*|AuthorizedKeysCommandUser nobody|' "$ROOT/config/sshd_config.d/portal-keyd.conf"
  } > "$dir/sshd_config"
  grep -q "^AuthorizedKeysCommand $HELPER " "$dir/sshd_config" ||
    { echo "config/sshd_config.d/portal-keyd.conf: no 'AuthorizedKeysCommand $packaged ...' line" >&2; return 1; }
  LD_PRELOAD=libpam_wrapper.so PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$dir/pam.d" \
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" >/dev/null 2>"$dir/sshd.log" &
  local pid=$!
  for _ in $(seq 100); do grep -q 'Server listening' "$dir/sshd.log" && break; sleep 0.05; done
  grep -q 'Server listening' "$dir/sshd.log" || { echo "sshd did not start" >&2; return 1; }
  echo "$pid"
}
