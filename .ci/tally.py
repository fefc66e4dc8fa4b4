"""Prints 'N passed, N failed' over every test case in a meson test log:
the subtests of TAP suites (one per Criterion case), plain tests as one."""
import json
import re
import sys

passed = failed = 0
try:
    with open(sys.argv[1]) as log:
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
except OSError as e:
    print(f"no test log: {e}", file=sys.stderr)
    failed += 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
