#!/usr/bin/env bash
# Builds the prebuilt binaries that ship in the package, with zig as the
# cross compiler (scripts/tools.sh installs the pinned version):
#   prebuilds/linux-x64/tcp-keepalive.glibc.node     glibc 2.17+ (RHEL 7, every current distro)
#   prebuilds/linux-x64/tcp-keepalive.musl.node      musl (Alpine)
#   prebuilds/linux-arm64/tcp-keepalive.glibc.node
#   prebuilds/linux-arm64/tcp-keepalive.musl.node
# zig links libc++ statically, so no binary needs libstdc++ at run time.
# The build runs in a scratch copy: build/ (your source build) is left alone.
# The committed prebuilds/ is replaced only at the end, once all four built: a missing tool or a
# failed build leaves it as it was.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

# zig target | Node arch | libc tag | strip that reads the target's ELF
targets=(
  "x86_64-linux-gnu.2.17 x64 glibc strip"
  "x86_64-linux-musl x64 musl strip"
  "aarch64-linux-gnu.2.17 arm64 glibc aarch64-linux-gnu-strip"
  "aarch64-linux-musl arm64 musl aarch64-linux-gnu-strip"
)
# Every tool before any work (the strips first: zig is a download).
for line in "${targets[@]}"; do
  read -r _ _ _ strip <<<"$line"
  command -v "$strip" >/dev/null || { echo "prebuild: $strip not found (apt-get install binutils-aarch64-linux-gnu)" >&2; exit 1; }
done
zig="$("$root/scripts/tools.sh" install zig)"

# node-gyp cannot download Node's headers here; use the ones installed with Node.
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root/binding.gyp" "$root/vendor" "$root/package.json" "$root/native" "$scratch/"
ln -s "$root/node_modules" "$scratch/node_modules"
# prebuildify runs node-gyp from PATH: npm puts its own there for scripts; run directly, use npm's too.
if ! command -v node-gyp >/dev/null; then
  mkdir "$scratch/bin"
  printf '#!/bin/sh\nexec node "%s" "$@"\n' "$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js" >"$scratch/bin/node-gyp"
  chmod +x "$scratch/bin/node-gyp"
  PATH="$scratch/bin:$PATH"
fi

for line in "${targets[@]}"; do
  read -r target arch libc strip <<<"$line"
  echo "== $arch $libc ($target)"
  (cd "$scratch" && CC="$zig cc -target $target" CXX="$zig c++ -target $target" \
    "$root/node_modules/.bin/prebuildify" --napi --strip --strip-bin "$strip" --tag-libc --arch "$arch" --libc "$libc" \
    --out "$scratch/out" >"$scratch/$arch-$libc.log" 2>&1) || { cat "$scratch/$arch-$libc.log" >&2; exit 1; }
done
rm -rf "$root/prebuilds"
cp -r "$scratch/out/prebuilds" "$root/prebuilds"

# What shipped: size and, for glibc, the newest symbol version each needs.
for file in "$root"/prebuilds/*/*.node; do
  baseline=$(readelf -V "$file" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n 1 || true)
  printf '%-48s %7d bytes  %s\n' "${file#"$root/"}" "$(stat -c %s "$file")" "${baseline:-no glibc symbols}"
done
