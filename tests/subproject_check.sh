#!/bin/sh
# cph as a new user packages and embeds it: configured without Criterion
# (one line says the tests are off), used as a meson subproject through
# plain dependency() calls, installed under a prefix whose tools run
# without LD_LIBRARY_PATH (cph-run --systemd finding its installed
# adapter), .pc files where the README says.
set -eu
src=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "subproject: $*" >&2; exit 1; }

meson setup "$tmp/off" "$src" -Dtests=disabled >"$tmp/off.log" 2>&1 ||
    { cat "$tmp/off.log"; fail "setup with -Dtests=disabled failed"; }
grep -q "tests are off (-Dtests=disabled)" "$tmp/off.log" || fail "no tests-off line"

mkdir -p "$tmp/proj/subprojects" "$tmp/empty"
cp "$src/tests/consumer/meson.build" "$src/tests/outside/parent.c" \
    "$src/tests/outside/child.c" "$tmp/proj/"
ln -s "$src" "$tmp/proj/subprojects/cph"
# No pkg-config files at all: Criterion cannot be found.
PKG_CONFIG_LIBDIR=$tmp/empty meson setup "$tmp/build" "$tmp/proj" \
    --prefix="$tmp/prefix" >"$tmp/setup.log" 2>&1 ||
    { cat "$tmp/setup.log"; fail "setup as a subproject failed"; }
grep -q "tests are off: Criterion not found" "$tmp/setup.log" ||
    fail "no tests-off line without Criterion"
ninja -C "$tmp/build" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "build"; }
meson install -C "$tmp/build" --no-rebuild --quiet >/dev/null

echo "first line" >"$tmp/file.txt"
out=$("$tmp/build/parent" "$tmp/build/child" "$tmp/file.txt")
[ "$out" = "child read: first line" ] || fail "consumer programs: $out"

env -u LD_LIBRARY_PATH "$tmp/prefix/bin/cph-run" --version >/dev/null ||
    fail "installed cph-run does not find its libraries"
out=$(cd / && env -u LD_LIBRARY_PATH PATH="$tmp/prefix/bin:$PATH" cph-run \
    --systemd --file cfg="$tmp/file.txt" -- sh -c 'echo $LISTEN_FDNAMES') ||
    fail "installed cph-run --systemd"
[ "$out" = cfg ] || fail "installed --systemd: $out"
pcdir=$(dirname "$(find "$tmp/prefix" -name cph.pc)")
echo "subproject: .pc files in ${pcdir#"$tmp/prefix/"}"
[ -f "$pcdir/cph_child.pc" ] || fail "no cph_child.pc beside cph.pc"
# The examples are built with the tests off too.
[ -x "$tmp/build/subprojects/cph/examples/crashpad-handler/crashpad-handler" ] ||
    fail "crashpad-handler example not built with the tests off"

# -Dcph:libraries_only=true: the libraries, headers, .pc and CMake files
# and the libraries' adapter (cph-place, which placements run), nothing
# of cph's tools or manual in the parent project's prefix.
meson configure "$tmp/build" -Dcph:libraries_only=true >/dev/null
meson install -C "$tmp/build" --destdir "$tmp/libsonly" --quiet >/dev/null ||
    fail "install with libraries_only"
lib=$(find "$tmp/libsonly" -name cph.pc)
[ -n "$lib" ] || fail "libraries_only: no cph.pc"
for f in include/cph/spawn.h include/cph/version.h; do
    [ -n "$(find "$tmp/libsonly" -path "*/$f")" ] || fail "libraries_only: no $f"
done
[ -n "$(find "$tmp/libsonly" -name cphConfig.cmake)" ] || fail "libraries_only: no cphConfig.cmake"
[ -n "$(find "$tmp/libsonly" -name 'libcph_child.so*')" ] || fail "libraries_only: no libcph_child"
[ -n "$(find "$tmp/libsonly" -path '*/libexec/cph-place')" ] || fail "libraries_only: no libexec/cph-place"
extra=$(find "$tmp/libsonly" \( -name 'cph-*' -o -name '*.[137]' \) ! -name cph-place)
[ -z "$extra" ] || fail "libraries_only installed: $extra"
echo "subproject: configured without Criterion, built as a subproject, installed tools run, libraries_only installs libraries and headers alone"
