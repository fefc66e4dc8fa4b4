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
for f in "$libdir/libcph.a" "$libdir/libcph_child.a" "$bindir/cph-run" \
    "$bindir/cph-show" "$includedir/cph/spawn.h" "$includedir/cph/child.h"; do
    [ -e "$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
mandir=$(dirname "$(find "$dest" -name cph-run.1)")/..
for fn in $(sed -n 's/^CPH_PUBLIC [^(]*[ *]\(cph_[a-z_]*\)(.*/\1/p' \
    "$src"/include/cph/*.h); do
    [ -e "$mandir/man3/$fn.3" ] || { echo "no man page installed: $fn(3)" >&2; exit 1; }
done
[ -e "$mandir/man1/cph-show.1" ] || { echo "no man page installed: cph-show(1)" >&2; exit 1; }
echo "installed tree: headers, libraries, pkg-config files, tools and man pages work"
