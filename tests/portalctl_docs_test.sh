#!/usr/bin/env bash
# portalctl's manual page and bash completion cover every command and subcommand that
# `portalctl --help` lists, so that neither can drift from the binary.
# Usage: portalctl_docs_test.sh PORTALCTL SOURCE_DIR
set -euo pipefail
ctl=$1 src=$2
# The page's command lines (.B, .BI, .BR) with \- as - and without quotes.
man=$(grep -E '^\.B[IR]? ' "$src/docs/man/portalctl.1" | sed 's/\\-/-/g; s/\\f[BIRP]//g; s/"//g; s/^\.B[IR]\{0,1\} *//')
completion=$src/config/bash-completion/portalctl
failed=0
bash -n "$completion" || { echo "FAIL: $completion is not valid bash" >&2; exit 1; }
fail() { echo "FAIL: $*" >&2; failed=1; }

# The names under "Subcommands:" in a help text.
subcommands() { "$ctl" "$@" --help | sed -n '/^Subcommands:/,/^$/{/^  [a-z]/s/^  \([a-z0-9-]*\).*/\1/p}'; }

top=$(subcommands)
[ -n "$top" ] || { echo "FAIL: portalctl --help lists no subcommands" >&2; exit 1; }
top_words=$(sed -n 's/^ *"") words_now="\(.*\)" ;;$/\1/p' "$completion")
for cmd in $top; do
  grep -qE "^$cmd( |$)" <<<"$man" || fail "portalctl.1 has no entry for '$cmd'"
  [[ " $top_words " == *" $cmd "* ]] || fail "the completion does not offer '$cmd'"
  subs=$(subcommands "$cmd")
  [ -n "$subs" ] || continue
  sub_words=$(sed -n "s/^ *$cmd) words_now=\"\([^\"]*\)\".*/\1/p" "$completion")
  for sub in $subs; do
    [[ " $sub_words " == *" $sub "* ]] || fail "the completion does not offer '$cmd $sub'"
    # "cmd sub ...", "cmd [ sub ]", or an alternative after '|' on a line of cmd's.
    grep -qE "^$cmd +(\[ *)?$sub( |\]|$)|^$cmd .*\| *$sub( |$)" <<<"$man" || fail "portalctl.1 does not mention '$cmd $sub'"
  done
done
[ "$failed" = 0 ] && echo "portalctl.1 and the completion cover: $(echo $top | wc -w) commands"
exit "$failed"
