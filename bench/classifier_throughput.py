"""Classifier speed: start-up in a fresh process, and throughput beside bare ``jieba.lcut``.

    .venv/bin/python bench/classifier_throughput.py [--seconds 3]
    OPENDOOR_PURE_PYTHON=1 .venv/bin/python bench/classifier_throughput.py   # the plain sources

Prints figures; it is a measurement, not a test. Messages are the 30–100 character texts of the
training and check sets (typical resident messages). Throughput runs on one core (the process
is pinned to CPU 0 where the OS allows it), after start-up; the two sides take turns over the
same messages for about ``--seconds`` seconds, and the best and the median round are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

STARTUP_SCRIPT = """
import time
started = time.perf_counter()
from domain.classifier import RoutingClassifier
imported = time.perf_counter()
classifier = RoutingClassifier.from_files()
verdict = classifier.classify("派出所民警吃拿卡要，还充当保护伞")
done = time.perf_counter()
print(f"{imported - started:.4f} {done - started:.4f} {verdict.category}")
"""


def typical_messages() -> list[str]:
    texts: list[str] = []
    for path in sorted((REPO / "data" / "training").rglob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                text = json.loads(line)["text"]
                if 30 <= len(text) <= 100:
                    texts.append(text)
    return texts


def measure_startup(runs: int) -> list[tuple[float, float]]:
    """(import seconds, construct + first classify seconds incl. import) per fresh process."""
    results = []
    for _ in range(runs):
        completed = subprocess.run(
            [sys.executable, "-c", STARTUP_SCRIPT], cwd=REPO, capture_output=True, text=True, check=True
        )
        imported, total, _ = completed.stdout.split()
        results.append((float(imported), float(total)))
    return results


def rates(functions: dict, messages: list[str], seconds: float) -> dict[str, tuple[float, float]]:  # type: ignore[type-arg]
    """Messages per second for each function: (best round, median round).

    The functions take turns, one pass over all messages each per round, until ``seconds`` have
    passed: both sides see the same load from whatever else runs on the machine, and the best
    round estimates the speed on an idle core.
    """
    for function in functions.values():
        for text in messages[:50]:
            function(text)  # warm caches for both sides alike
    timings: dict[str, list[float]] = {name: [] for name in functions}
    started = time.perf_counter()
    while time.perf_counter() - started < seconds or len(next(iter(timings.values()))) < 3:
        for name, function in functions.items():
            begin = time.perf_counter()
            for text in messages:
                function(text)
            timings[name].append(time.perf_counter() - begin)
    result = {}
    for name, values in timings.items():
        values.sort()
        result[name] = (len(messages) / values[0], len(messages) / values[len(values) // 2])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--startup-runs", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})

    startups = measure_startup(args.startup_runs)
    print(f"start-up, fresh process (import + construct + first classify), {len(startups)} runs:")
    print(f"  import domain.classifier: median {sorted(s[0] for s in startups)[len(startups) // 2]:.3f} s")
    totals = sorted(s[1] for s in startups)
    print(f"  total: median {totals[len(totals) // 2]:.3f} s, worst {totals[-1]:.3f} s")

    import jieba

    import domain
    from domain.classifier import RoutingClassifier

    how = "compiled by tools/accelerate.py" if domain.COMPILED else "plain Python (no current build, or OPENDOOR_PURE_PYTHON)"
    print(f"router modules: {how}")

    jieba.setLogLevel(60)
    jieba.initialize()  # jieba's own start-up is not part of its throughput
    classifier = RoutingClassifier.from_files()
    classifier.warm_up()
    messages = typical_messages()
    mean_length = sum(map(len, messages)) / len(messages)
    print(f"throughput on {len(messages)} messages of 30-100 characters (mean {mean_length:.0f}), one core:")
    measured = rates({"classify": classifier.classify, "lcut": jieba.lcut}, messages, args.seconds)
    (ours, ours_median), (bare, bare_median) = measured["classify"], measured["lcut"]
    print(f"  classifier.classify:                     {ours:7.0f} messages/s (median round {ours_median:.0f})")
    print(f"  jieba.lcut (default dictionary, HMM on): {bare:7.0f} messages/s (median round {bare_median:.0f})")
    print(f"  ratio classify / jieba.lcut: {ours / bare:.2f} (median rounds {ours_median / bare_median:.2f})")


if __name__ == "__main__":
    main()
