#!/usr/bin/env bash
# Compiles the native sources of the systems CI cannot run (macOS x64/arm64,
# Windows x64) against those systems' own headers, which zig ships, with the
# same source list binding.gyp picks for each. -Werror: a warning there is a
# bug here. Prints 'N passed, N failed'.
set -uo pipefail
cd "$(dirname "$0")/.."
zig="$(scripts/tools.sh install zig)"
node_headers="${npm_config_nodedir:-/usr}/include/node"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
flags=(-std=c++17 -c -Wall -Wextra -Werror -fno-exceptions -DNODE_ADDON_API_DISABLE_CPP_EXCEPTIONS
  -I "$node_headers" -I vendor/node-addon-api)

passed=0 failed=0
check() { # target, sources...
  local target="$1" source ok=true
  shift
  for source in "$@"; do
    "$zig" c++ -target "$target" "${flags[@]}" -o "$out/$(basename "$source").o" "$source" || ok=false
  done
  if $ok; then
    echo "ok   $target: $*"
    passed=$((passed + 1))
  else
    echo "FAIL $target: $*"
    failed=$((failed + 1))
  fi
}
posix_other=(native/binding.cc native/keepalive_posix.cc native/process_fd_none.cc native/socket_lookup_none.cc native/tcp_info_none.cc)
check x86_64-macos "${posix_other[@]}"
check aarch64-macos "${posix_other[@]}"
check x86_64-windows-gnu native/binding.cc native/keepalive_win.cc native/process_fd_none.cc native/socket_lookup_none.cc native/tcp_info_none.cc
echo "other-os compile: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
