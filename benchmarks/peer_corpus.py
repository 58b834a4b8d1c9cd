"""How much of the peers' gradient tests (HIPS/autograd's and JAX's, in tests/peer_corpus.py) the
language writes directly, and, with ``--grade``, whether the reference is right on each against
an independent truth (NumPy's own evaluation, differentiated by Richardson-extrapolated central
differences) and how each engine grades.

Run from the repository root: ``PYTHONPATH=. python benchmarks/peer_corpus.py [--grade]``.
"""

from __future__ import annotations

import collections
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from peer_corpus import CORPUS
from test_peer_corpus import expressible, point, richardson_gradient

import diffcmp


def main() -> None:
    failed = {entry[0]: why for entry in CORPUS if (why := expressible(entry)) is not True}
    print(f"expressible: {len(CORPUS) - len(failed)} of {len(CORPUS)} peer tests "
          f"({1 - len(failed) / len(CORPUS):.1%})")
    for name, why in failed.items():
        print(f"  not expressible: {name}: {why}")
    if "--grade" not in sys.argv:
        return
    statuses: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    wrong, start = [], time.perf_counter()
    for entry in CORPUS:
        if entry[0] in failed:
            continue
        params, data = point(entry)
        result = diffcmp.compare(entry[1], params, data=data, timing=False)
        rows = result.agreement[result.agreement["point"] == 0]
        for engine, status in zip(rows["engine"], rows["status"], strict=True):
            statuses[engine][status] += 1
        grads = result.gradients[(result.gradients["point"] == 0)
                                 & (result.gradients["engine"] == "reference")]
        ours = grads.set_index("component")["value"]
        for name, truth in richardson_gradient(entry[1], params, data).items():
            for index in np.ndindex(truth.shape):
                component = name + (f"[{','.join(map(str, index))}]" if index else "")
                if abs(ours[component] - truth[index]) > 1e-7 * max(1.0, abs(truth[index])):
                    wrong.append((entry[0], component, ours[component], truth[index]))
    print(f"graded in {time.perf_counter() - start:.0f} s; reference wrong on {len(wrong)} "
          "components")
    for item in wrong:
        print("  wrong:", *item)
    for engine, counter in sorted(statuses.items()):
        print(f"  {engine}: " + ", ".join(f"{s} {n}" for s, n in counter.most_common()))


if __name__ == "__main__":
    main()
