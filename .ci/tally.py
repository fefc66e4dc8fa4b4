"""Prints 'N passed, N failed' over every test case in the meson test logs
given: the subtests of TAP suites (one per Criterion case), plain tests as
one. A missing log counts as one failure."""
import json
import re
import sys


def tally(log):
    passed = failed = 0
    for line in log:
        test = json.loads(line)
        cases = re.findall(r"^(ok|not ok)\b", test.get("stdout", ""), re.M)
        if cases:
            passed += cases.count("ok")
            failed += cases.count("not ok")
            if test["result"] not in ("OK", "SKIP") and "not ok" not in cases:
                failed += 1  # crashed or timed out after its last case
        elif test["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif test["result"] != "SKIP":
            failed += 1
    return passed, failed


passed = failed = 0
for path in sys.argv[1:]:
    try:
        with open(path) as log:
            p, f = tally(log)
    except OSError as e:
        print(f"no test log: {e}", file=sys.stderr)
        p, f = 0, 1
    passed += p
    failed += f
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
