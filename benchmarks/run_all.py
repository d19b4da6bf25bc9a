"""Run every benchmark script with ``--write``, one after the other, updating RESULTS.md.

Each script rewrites only its own marked section of ``benchmarks/RESULTS.md``, so they can run
in any order and a failed one leaves the others' sections intact. At the end a summary of every
section's target verdicts is (re)written at the top of the file. Scripts run sequentially (never
in parallel: they measure wall time) with the same interpreter as this one.

    python benchmarks/run_all.py                      # all benchmarks, full sizes, --write
    python benchmarks/run_all.py --only sim env       # a subset (names without bench_/.py)
    python benchmarks/run_all.py --dry-run            # print the commands only
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from common import BENCH, RESULTS, ROOT, summary_section, write_section

ORDER = ("sim", "env", "rollout", "scaling", "sweep", "lora", "viz", "end_to_end")


def scripts() -> list[Path]:
    def key(p: Path) -> tuple[int, str]:
        short = p.stem.removeprefix("bench_")
        return (ORDER.index(short) if short in ORDER else len(ORDER), short)

    return sorted(BENCH.glob("bench_*.py"), key=key)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", default=None, help="benchmark names, e.g. sim env lora")
    p.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    p.add_argument("--keep-going", action="store_true", help="run the rest after a failure")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = scripts()
    if args.only:
        wanted = {n.removeprefix("bench_").removesuffix(".py") for n in args.only}
        unknown = wanted - {p.stem.removeprefix("bench_") for p in chosen}
        if unknown:
            print(f"unknown benchmark(s): {sorted(unknown)}", file=sys.stderr)
            return 2
        chosen = [p for p in chosen if p.stem.removeprefix("bench_") in wanted]
    failed = []
    for script in chosen:
        rel = script.relative_to(ROOT)
        print(f"$ python {rel} --write", flush=True)
        if args.dry_run:
            continue
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, str(rel), "--write"], cwd=ROOT, check=False)
        print(f"  -> exit {proc.returncode} in {time.perf_counter() - t0:.0f} s", flush=True)
        if proc.returncode != 0:
            failed.append(script.name)
            if not args.keep_going:
                break
    if not args.dry_run and RESULTS.exists():
        write_section(summary_section(RESULTS.read_text()), "summary", first=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
