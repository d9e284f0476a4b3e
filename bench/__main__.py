"""`make bench`: every figure measured against a peer in the same run, printed as a ratio.

`python -m bench` runs them all; `python -m bench s3 cloudwatch` (or `make bench ONLY="s3"`) runs some.
Each module's docstring says what it measures and against which peer.
"""

from __future__ import annotations

import shutil
import sys
import traceback
from importlib import import_module

# Run order: the cheap ones first.
BENCHMARKS = ("startup", "api_throughput", "cloudwatch", "s3", "ec2", "rds", "elb", "autoscaling")


def main(argv: list[str]) -> int:
    if shutil.which("wrk") is None:
        print("wrk is missing: run `make bench` (it installs wrk from apt)", file=sys.stderr)
        return 1
    chosen = argv or list(BENCHMARKS)
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {BENCHMARKS}", file=sys.stderr)
        return 2
    print("onebox benchmarks: each figure is a ratio against a peer measured in this same run\n")
    failed = []
    for name in chosen:
        print(f"== {name}")
        try:
            import_module(f"bench.{name}").run()
        except Exception:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
        print()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
