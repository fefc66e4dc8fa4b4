#!/bin/sh
# Every manual page renders without a warning (mandoc -T lint), and every
# public function of the headers is named by a page.
#   check.sh SOURCE-ROOT
set -u
src=$1
status=0
for page in "$src"/man/man1/*.1 "$src"/man/man3/*.3 "$src"/man/man7/*.7; do
    out=$(mandoc -T lint -W warning "$page" 2>&1) || { echo "$out"; status=1; }
done
names=$(sed -n '/^\.SH NAME/{n;s/ \\-.*//;s/,//g;p;}' "$src"/man/man3/*.3)
for fn in $(sed -n 's/^CPH_PUBLIC [^(]*[ *]\(cph_[a-z_]*\)(.*/\1/p' \
    "$src"/include/cph/*.h); do
    echo "$names" | tr ' ' '\n' | grep -qx "$fn" || {
        echo "man: no page names $fn"
        status=1
    }
done
[ $status -eq 0 ] && echo "man: every page lints clean, every public function has one"
exit $status
