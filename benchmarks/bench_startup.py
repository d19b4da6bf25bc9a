"""Start-up cost of a training process: importing torch, and building the optimiser, which
pulls in torch's compiler stack (`torch._dynamo`).

Why: every training job on a fresh worker pays this before its first step, and py-spy on
`train` showed seconds of it. Each case runs in a fresh interpreter (so nothing is cached in
the process) and reports wall seconds of each stage and whether `torch._dynamo` was imported;
the variants try the optimiser settings that could avoid the import (`foreach=False`,
`fused=False`, a parameter-free construction).

    python benchmarks/bench_startup.py            # about a minute
    python benchmarks/bench_startup.py --write    # ... and update RESULTS.md
    python benchmarks/bench_startup.py --quick    # one round (smoke)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from common import machine_lines, markers, publish

NAME = "bench_startup"
# optimiser keyword arguments per variant (None: do not build an optimiser at all)
VARIANTS: dict[str, dict | None] = {
    "import torch only": None,
    "Adam (as the trainer builds it)": {"eps": 1e-5},
    "Adam, foreach=False": {"eps": 1e-5, "foreach": False},
    "Adam, fused=False": {"eps": 1e-5, "fused": False},
}
PROBE = """
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
kwargs = json.loads(sys.argv[1])
if kwargs is not None:
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(4))], **kwargs)
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "optimiser_s": t2 - t1,
                  "dynamo": "torch._dynamo" in sys.modules}))
"""


def probe(kwargs: dict | None) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(kwargs)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--write", action="store_true")
    args = p.parse_args(argv)
    rounds = 1 if args.quick else args.rounds
    samples: dict[str, list[dict]] = {name: [] for name in VARIANTS}
    for _ in range(rounds):  # interleaved: a load spike hits every variant alike
        for name, kwargs in VARIANTS.items():
            samples[name].append(probe(kwargs))
    start, end = markers(NAME)
    out = [
        start,
        "## bench_startup: what a training process pays before its first step",
        "",
        *machine_lines(),
        "",
        f"Each case is a fresh interpreter; wall seconds, median over {rounds} interleaved rounds.",
        "",
        "| case | import torch [s] | build optimiser [s] | torch._dynamo imported |",
        "|---|---:|---:|---|",
    ]
    for name, runs in samples.items():
        imp = statistics.median(r["import_s"] for r in runs)
        opt = statistics.median(r["optimiser_s"] for r in runs)
        dynamo = "yes" if all(r["dynamo"] for r in runs) else "no"
        out.append(f"| {name} | {imp:.2f} | {opt:.2f} | {dynamo} |")
    adam = statistics.median(r["optimiser_s"] for r in samples["Adam (as the trainer builds it)"])
    avoided = [n for n, runs in samples.items() if VARIANTS[n] and not runs[0]["dynamo"]]
    out += [
        "",
        "No optimiser setting avoids the import: torch's `Optimizer.add_param_group` is wrapped "
        "in `torch._disable_dynamo`, which imports `torch._dynamo` on its first call whatever "
        "the optimiser's options. The cost is paid once per process (the executor's workers "
        "are reused across jobs), not once per job."
        if not avoided
        else f"Avoided by: {', '.join(avoided)}.",
        "",
        end,
    ]
    publish("\n".join(out) + "\n", NAME, [f"startup optimiser build = {adam:.2f}s"], args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
