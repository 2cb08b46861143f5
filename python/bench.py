"""Decisions from Python: per call (an event as a dict, as JSON text) and in batches.

    python3 python/bench.py            # after `pip install` of the wheel (see README)

Prints the median over several runs of the time per decision, in nanoseconds, for the
example events of the repository, and the same decisions in Rust for comparison
come from `cargo bench -p portcullis-ffi --bench ffi_decide`.
"""

import json
import pathlib
import statistics
import time

import portcullis

ROOT = pathlib.Path(__file__).resolve().parents[1]
RUNS = 15


def per_decision(work, n):
    """Median nanoseconds per decision of `work`, which makes `n` decisions."""
    work()  # warm up
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter_ns()
        work()
        samples.append((time.perf_counter_ns() - start) / n)
    return statistics.median(samples)


def main():
    engine = portcullis.Engine((ROOT / "examples" / "bundle.json").read_text())
    lines = [l for l in (ROOT / "examples" / "events.jsonl").read_text().splitlines() if l]
    dicts = [json.loads(line) for line in lines]
    snapshot = engine.snapshot()
    cases = {"certificate_path_hit": 0, "hash_hit": 5, "default_deny_miss": 4}
    loops = 20_000
    print(f"{'case':<44}{'ns/decision':>12}")
    for name, n in cases.items():
        event, text = dicts[n], lines[n]
        rows = {
            f"snapshot.decide(dict) {name}": lambda: [snapshot.decide(event) for _ in range(loops)],
            f"snapshot.decide(json) {name}": lambda: [snapshot.decide(text) for _ in range(loops)],
        }
        for label, work in rows.items():
            print(f"{label:<44}{per_decision(work, loops):>12.0f}")
    batch = dicts * 100
    print(f"{f'decide_many(dicts) x{len(batch)}':<44}{per_decision(lambda: snapshot.decide_many(batch), len(batch)):>12.0f}")
    texts = lines * 100
    print(f"{f'decide_many(json) x{len(texts)}':<44}{per_decision(lambda: snapshot.decide_many(texts), len(texts)):>12.0f}")


if __name__ == "__main__":
    main()
