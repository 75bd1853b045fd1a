#!/usr/bin/env bash
# Test harness only: prepares $TCP_KEEPALIVE_TOOLS/musl-sysroot/{x64,arm64},
# where Bun's musl builds run on this Debian machine (x64 natively, arm64
# under qemu-aarch64-static): musl's loader, Debian's glibc libstdc++ and
# libgcc_s, and glibc-shim.so. Needs root once for the arm64 musl package.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
zig="$("$here/../../scripts/tools.sh" install zig)"
out="${TCP_KEEPALIVE_TOOLS:-$HOME/.cache/tcp-keepalive-tools}/musl-sysroot"

# arch | zig target | musl loader | where Debian keeps that arch's libstdc++
for line in "x64 x86_64-linux-musl ld-musl-x86_64.so.1 /usr/lib/x86_64-linux-gnu" \
  "arm64 aarch64-linux-musl ld-musl-aarch64.so.1 /usr/aarch64-linux-gnu/lib"; do
  read -r arch target loader libs <<<"$line"
  dir="$out/$arch"
  [ -f "$dir/.done" ] && continue
  mkdir -p "$dir"
  if [ "$arch" = x64 ]; then
    cp /lib/ld-musl-x86_64.so.1 "$dir/$loader" # Debian's musl package
  else
    # Debian's musl for arm64, unpacked (not installed): needs the arm64 package lists.
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
    (cd "$dir" && apt-get download -qq musl:arm64 && dpkg-deb -x musl_*_arm64.deb unpacked && rm musl_*_arm64.deb)
    cp "$dir/unpacked/lib/$loader" "$dir/$loader"
    rm -rf "$dir/unpacked"
  fi
  ln -sf "$loader" "$dir/libc.musl-${loader#ld-musl-}" # the name Bun asks for
  cp "$libs/libstdc++.so.6" "$libs/libgcc_s.so.1" "$dir/"
  "$zig" cc -target "$target" -shared -fPIC -o "$dir/glibc-shim.so" "$here/glibc-shim.c"
  ln -sf glibc-shim.so "$dir/ld-linux-x86-64.so.2" # x64 libstdc++ names glibc's loader
  touch "$dir/.done"
done
echo "$out"
