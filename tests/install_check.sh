#!/bin/sh
# Installs the build into a scratch destdir, then builds the programs in
# tests/outside/ as a user would, with pkg-config only (a shared and a
# static libcph_child), runs them, and checks what got installed (a man
# page for every public function among it). CC and CONSUMER_CFLAGS (meson
# test sets them: a sanitizer build's programs need its runtime) say how
# to compile.
set -eu
build=$1
src=$2
cc=${CC:-cc}
flags=${CONSUMER_CFLAGS:-}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

meson install -C "$build" --destdir "$dest" --no-rebuild --quiet
# A staged install, as a packager sees it: the sysroot prefixes every
# path the .pc files give.
PKG_CONFIG_PATH=$(dirname "$(find "$dest" -name cph.pc)")
PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
pc() { pkg-config "$@"; }
libdir=$(pc --variable=libdir cph)
includedir=$(pc --variable=includedir cph)
bindir=$(pc --variable=prefix cph)/bin

# shellcheck disable=SC2046,SC2086
$cc $flags -o "$dest/parent" "$src/tests/outside/parent.c" $(pc --cflags --libs cph)
# shellcheck disable=SC2046,SC2086
$cc $flags -o "$dest/child" "$src/tests/outside/child.c" $(pc --cflags --libs cph_child)
# shellcheck disable=SC2046,SC2086
$cc $flags -o "$dest/child-static" "$src/tests/outside/child.c" \
    $(pc --cflags cph_child) "$libdir/libcph_child.a" $(pc --static --libs-only-other cph_child) -pthread

echo "first line" >"$dest/file.txt"
for child in child child-static; do
    out=$(LD_LIBRARY_PATH=$libdir "$dest/parent" "$dest/$child" "$dest/file.txt")
    if [ "$out" != "child read: first line" ]; then
        echo "$child: unexpected output: $out" >&2
        exit 1
    fi
done
# The same programs through CMake's find_package(cph), from the staged
# tree as it is (the package finds its prefix from its own place).
command -v cmake >/dev/null || { echo "cmake missing (.ci/setup installs it)" >&2; exit 1; }
cmake -S "$src/tests/outside" -B "$dest/cmake-build" -DCMAKE_C_COMPILER="${cc%% *}" \
    -DCMAKE_C_FLAGS="${cc#"${cc%% *}"} $flags" -DCMAKE_PREFIX_PATH="$(pc --variable=prefix cph)" \
    >"$dest/cmake.log" 2>&1 && cmake --build "$dest/cmake-build" >>"$dest/cmake.log" 2>&1 ||
    { cat "$dest/cmake.log" >&2; echo "find_package(cph) failed" >&2; exit 1; }
out=$(LD_LIBRARY_PATH=$libdir "$dest/cmake-build/parent" "$dest/cmake-build/child" "$dest/file.txt")
[ "$out" = "child read: first line" ] || { echo "CMake-built programs: $out" >&2; exit 1; }
for f in "$libdir/libcph.a" "$libdir/libcph_child.a" "$bindir/cph-run" \
    "$bindir/cph-show" "$includedir/cph/spawn.h" "$includedir/cph/child.h" \
    "$includedir/cph/version.h" "$libdir/cmake/cph/cphConfig.cmake"; do
    [ -e "$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
mandir=$(dirname "$(find "$dest" -name cph-run.1)")/..
for fn in $(sed -n 's/^CPH_PUBLIC [^(]*[ *]\(cph_[a-z_]*\)(.*/\1/p' \
    "$src"/include/cph/*.h); do
    [ -e "$mandir/man3/$fn.3" ] || { echo "no man page installed: $fn(3)" >&2; exit 1; }
done
for page in man1/cph-show.1 man1/cph-run.1 man7/cph.7; do
    [ -e "$mandir/$page" ] || { echo "no man page installed: $page" >&2; exit 1; }
done
echo "installed tree: headers, libraries, pkg-config files, tools and man pages work"
