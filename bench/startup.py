"""Time from `onebox up --detach` to an answering API, against moto_server's time to first answer."""

from __future__ import annotations

import statistics

from bench.peers import moto_server, onebox

RUNS = 3


def run() -> None:
    ours = []
    theirs = []
    for _ in range(RUNS):
        with onebox() as (_, elapsed):
            ours.append(elapsed)
        with moto_server() as (_, elapsed):
            theirs.append(elapsed)
    mine, peer = statistics.median(ours), statistics.median(theirs)
    print("start-up to ready (median of 3)")
    print(f"  onebox up --detach   {mine:6.3f} s")
    print(f"  moto_server          {peer:6.3f} s")
    print(f"  ratio onebox/moto    {mine / peer:6.2f}  (goal: onebox under 1 s)")
