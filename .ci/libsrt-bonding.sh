#!/usr/bin/env bash
# Builds srt-live-transmit and srt-test-live from Debian's own libsrt source package with bonding
# (socket groups) enabled, for the bonding interop tests. In 1.5.1 only srt-test-live (a testing
# application, ENABLE_TESTING) dials a group (`srt:////group?type=…&nodes=host:port,…`);
# srt-live-transmit accepts one as a listener with groupconnect=1 (test/interop/bonding.test.ts; run by .ci/run). Debian's srt-tools is
# built without ENABLE_BONDING. The build is cached under ~/.cache/sluice-libsrt-bonding/<version>;
# the binary is never committed. Prints the path of srt-test-live on its last line (srt-live-transmit is next to it).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

CACHE="${SLUICE_LIBSRT_CACHE:-$HOME/.cache/sluice-libsrt-bonding}"
LIST=/etc/apt/sources.list.d/sluice-deb-src.sources

if [ ! -f "$LIST" ]; then
  # Source packages of the same Debian archive the binaries come from (bookworm main + security).
  $SUDO tee "$LIST" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO apt-get update -q
fi

# A cached build of any 1.5.1 source version will do; the cache key is the version built.
for b in "$CACHE"/*/srt-test-live; do
  if [ -x "$b" ]; then echo "$b"; exit 0; fi
done

$SUDO apt-get install -y -q --no-install-recommends cmake g++ make pkg-config libssl-dev tcl dpkg-dev >&2
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# The newest source version the archive really serves (the security suite lists versions it no
# longer has; the main suite's copy is the fallback).
VERSION=""
for v in $(apt-cache showsrc srt 2>/dev/null | awk '/^Version:/ {print $2}' | sort -rV); do
  if ( cd "$WORK" && apt-get source -q "srt=$v" >&2 ); then VERSION="$v"; break; fi
done
if [ -z "$VERSION" ]; then echo "no source package for srt could be fetched" >&2; exit 1; fi
OUT="$CACHE/$VERSION"
BIN="$OUT/srt-test-live"
SRCDIR="$(find "$WORK" -maxdepth 1 -mindepth 1 -type d -name 'srt-*' | head -1)"
START=$(date +%s)
cmake -S "$SRCDIR" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release -DENABLE_BONDING=ON -DENABLE_APPS=ON \
  -DENABLE_SHARED=OFF -DENABLE_STATIC=ON -DENABLE_UNITTESTS=OFF -DENABLE_TESTING=ON \
  -DUSE_ENCLIB=openssl >&2
cmake --build "$WORK/build" --target srt-live-transmit srt-test-live -j "$(nproc)" >&2
echo "libsrt $VERSION with bonding built in $(( $(date +%s) - START )) s" >&2
mkdir -p "$OUT"
cp "$WORK/build/srt-live-transmit" "$OUT/srt-live-transmit.tmp"
mv "$OUT/srt-live-transmit.tmp" "$OUT/srt-live-transmit"
cp "$WORK/build/srt-test-live" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
echo "$BIN"
