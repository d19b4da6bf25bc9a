"""Benchmark rollout collection: decisions per second with a learned policy, batched vs naive.

Why: MAPPO's rollouts step E environments and choose the actions of the acting stations of every
environment in one actor forward (`factory_twin.policy.acting.act_acting`: the acting rows of
[envs, stations, obs]).
The alternative a first implementation would write is one environment and one actor forward
per acting station per step. The batched collector should make at least 5x more decisions per
second (target). Both sides use the same untrained actor (speed does not depend on the
weights), one torch thread and inference mode; a decision is one acting station at one step.

* batched: `MAPPO(scenario, TrainConfig(method, n_envs=E, rollout_len=T)).collect()`, timed per
  call, decisions = `buf.acting.sum()`;
* naive: one `LineEnv`, `actor(obs[i:i+1], [i], mask[i:i+1])` + softmax + multinomial for each
  acting station `i`, then `step_arrays`, for the same number of env steps (E x T).

E = 8 (the target's setting) and E = 16 (what training uses).

Rounds alternate batched and naive (ABAB...) and ratios are medians of per-round ratios. A
separate pass with timing wrappers around the environments' `step_arrays`/`reset_arrays`
splits each side into environment time and policy time (forward, sampling, glue).

    python benchmarks/bench_rollout.py            # print results
    python benchmarks/bench_rollout.py --write    # ... and update benchmarks/RESULTS.md
    python benchmarks/bench_rollout.py --quick    # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from common import (
    RESULTS,
    interleaved,
    longest,
    machine_lines,
    markers,
    publish,
    ratio_summary,
    shipped_scenarios,
)
from factory_twin.env import LineEnv
from factory_twin.policy.registry import label
from factory_twin.scenario import Scenario
from factory_twin.train.config import TrainConfig
from factory_twin.train.mappo import MAPPO

NAME = "bench_rollout"
TARGET = 5.0
TARGET_ENVS = 8
ROLL_NOTE = (
    "What stops it: at {envs} envs the batched policy side ({actor}, the slowest) costs "
    "{policy:.1f} µs per decision and the environment {env:.1f}; {target:g}x needs the whole "
    "batched decision at or under the naive one's {naive:.1f} / {target:g} = {need:.1f} µs, "
    "{room}. The batched forward is already one GEMM per layer over every acting row; what is "
    "left is eager torch's per-call cost (the adapters' padded products, sampling, buffer "
    "writes) on about ten rows a step. Reaching the target would take a forward without that "
    "overhead (merged per-station weights, a fused or numpy forward); each changes float "
    "rounding, so the same-seed record of tests/test_same_result.py would have to be made "
    "again on every CPU family it holds."
)


def roll_note(row: dict) -> str:
    """ROLL_NOTE filled from one row's measured split (env vs policy per decision)."""
    b, n = row["b"], row["n"]
    need = (n["env"] + n["policy"]) / TARGET
    room = (
        f"so the policy at or under {need - b['env']:.1f} µs"
        if need > b["env"]
        else "below the environment's own cost, so no policy speed-up alone reaches it"
    )
    return ROLL_NOTE.format(envs=row["envs"], actor=METHODS[row["method"]], policy=b["policy"],
                            env=b["env"], target=TARGET, naive=n["env"] + n["policy"],
                            need=need, room=room)  # fmt: skip


METHODS = {m: label(m) for m in ("ps", "lorasa")}


class EnvClock:
    """Timing wrappers on env instances: how much of a loop's wall time is environment."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, env: LineEnv) -> None:
        for attr in ("step_arrays", "reset_arrays"):
            fn = getattr(env, attr)

            def wrapper(*a, _fn=fn, **k):
                t0 = time.perf_counter()
                try:
                    return _fn(*a, **k)
                finally:
                    self.seconds += time.perf_counter() - t0

            setattr(env, attr, wrapper)


class Batched:
    def __init__(
        self, sc: Scenario, method: str, rollout_len: int, hidden: tuple, n_envs: int
    ) -> None:
        cfg = TrainConfig(method=method, n_envs=n_envs, rollout_len=rollout_len, hidden=hidden,
                          threads=1, seed=0)  # fmt: skip
        self.trainer = MAPPO(sc, cfg)
        self.steps_per_call = cfg.n_envs * cfg.rollout_len

    def __call__(self, _round: int = 0) -> dict:
        t0 = time.perf_counter()
        buf = self.trainer.collect()
        seconds = time.perf_counter() - t0
        return {"seconds": seconds, "decisions": int(buf.acting.sum()),
                "steps": self.steps_per_call}  # fmt: skip


class Naive:
    """One env, one actor forward per acting station per step, no batching."""

    def __init__(self, sc: Scenario, actor, steps: int, episode_minutes: float) -> None:
        self.actor, self.steps = actor, steps
        self.env = LineEnv(sc, episode_minutes, seed=1)
        self.gen = torch.Generator().manual_seed(0)
        self.obs, self.mask, self.acting = self.env.reset_arrays()
        self.acts = np.zeros(self.env.n_agents, np.int64)

    @torch.inference_mode()
    def __call__(self, _round: int = 0) -> dict:
        env, actor, acts, gen = self.env, self.actor, self.acts, self.gen
        obs, mask, acting = self.obs, self.mask, self.acting
        decisions = 0
        t0 = time.perf_counter()
        for _ in range(self.steps):
            for i in np.flatnonzero(acting):
                logits = actor(
                    torch.from_numpy(obs[i : i + 1]),
                    torch.tensor([i]),
                    torch.from_numpy(mask[i : i + 1]),
                )
                probs = torch.softmax(logits, dim=-1)
                acts[i] = int(torch.multinomial(probs, 1, generator=gen))
                decisions += 1
            obs, mask, acting, _, done = env.step_arrays(acts)
            if done:
                obs, mask, acting = env.reset_arrays()
        seconds = time.perf_counter() - t0
        self.obs, self.mask, self.acting = obs, mask, acting
        return {"seconds": seconds, "decisions": decisions, "steps": self.steps}


def split(run, envs: list[LineEnv], calls: int) -> dict:
    """Environment vs policy microseconds per decision over `calls` calls of `run`."""
    clock = EnvClock()
    for env in envs:
        clock.wrap(env)
    total, decisions = 0.0, 0
    for _ in range(calls):
        s = run()
        total += s["seconds"]
        decisions += s["decisions"]
    return {"env": clock.seconds / decisions * 1e6,
            "policy": (total - clock.seconds) / decisions * 1e6}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes and few rounds (smoke)")
    p.add_argument("--write", action="store_true", help=f"update the section in {RESULTS.name}")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (median)")
    p.add_argument("--scenario", default=None, help="scenario name (default: the longest)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(1)
    rounds = args.rounds or (2 if args.quick else 9)
    rollout_len = 8 if args.quick else 128
    hidden = (32, 32) if args.quick else TrainConfig.hidden
    scenarios = shipped_scenarios()
    name = args.scenario or longest(scenarios)
    sc = scenarios[name]
    methods = ["lorasa"] if args.quick else list(METHODS)
    env_counts = (TARGET_ENVS,) if args.quick else (TARGET_ENVS, TrainConfig.n_envs)

    runners: dict[tuple[str, int], tuple[Batched, Naive]] = {}
    cases = {}
    for m in methods:
        for n_envs in env_counts:
            b = Batched(sc, m, rollout_len, hidden, n_envs)
            n = Naive(sc, b.trainer.actor, b.steps_per_call, b.trainer.cfg.episode_minutes)
            runners[(m, n_envs)] = (b, n)
            cases[(m, n_envs, "batched")] = b
            cases[(m, n_envs, "naive")] = n
    for fn in cases.values():  # warm-up: allocator, kernels, first episode resets
        fn()
    samples = interleaved(cases, rounds)

    def rate(s: dict) -> float:
        return s["decisions"] / s["seconds"]

    rows = []
    for (m, n_envs), (b, n) in runners.items():
        b_s, n_s = samples[(m, n_envs, "batched")], samples[(m, n_envs, "naive")]
        ratios = [rate(b) / rate(n) for b, n in zip(b_s, n_s, strict=True)]
        calls = 1 if args.quick else 3
        b_split = split(b, b.trainer.envs, calls)
        n_split = split(n, [n.env], calls)
        rows.append({
            "method": m, "envs": n_envs, "ratios": ratios,
            "b_rate": statistics.median(rate(x) for x in b_s),
            "n_rate": statistics.median(rate(x) for x in n_s),
            "b_dec_step": sum(x["decisions"] for x in b_s) / sum(x["steps"] for x in b_s),
            "n_dec_step": sum(x["decisions"] for x in n_s) / sum(x["steps"] for x in n_s),
            "b": b_split, "n": n_split,
        })  # fmt: skip
    judged = [r for r in rows if r["envs"] == TARGET_ENVS]
    key = judged[-1]  # LoRASA at the target's env count (the last method listed)
    slowest = min(judged, key=lambda r: statistics.median(r["ratios"]))
    worst = statistics.median(slowest["ratios"])
    verdict = "met" if worst >= TARGET else "MISSED"
    if args.quick:
        verdict = "not judged (--quick)"

    start, end = markers(NAME)
    out = [
        start,
        "## bench_rollout: rollout decisions per second, batched MAPPO vs naive loop",
        "",
        *machine_lines(),
        "",
        f"Scenario **{name}** ({len(sc.stations)} stations), untrained actor with hidden "
        f"{tuple(hidden)}, episodes of {TrainConfig.episode_minutes:g} min. Batched = one "
        f"`MAPPO.collect()` (E envs x {rollout_len} steps, one actor forward per step for the "
        f"stations acting at that step, of {len(sc.stations)} x E); naive = one env, one actor "
        "forward per acting "
        "station, same number of env steps. E = 8 is the issue's setting; "
        f"E = {TrainConfig.n_envs} is what training uses. "
        f"{rounds} interleaved rounds; ratio = median (min-max) of per-round ratios.",
        "",
        "| actor | envs | batched decisions/s | naive decisions/s | batched / naive "
        "| decisions per env step |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {METHODS[r['method']]} | {r['envs']} | {r['b_rate']:,.0f} | {r['n_rate']:,.0f} "
            f"| {ratio_summary(r['ratios'])} | {r['b_dec_step']:.2f} |"
        )
    out += [
        "",
        f"Target: batched >= {TARGET:g}x naive with {TARGET_ENVS} envs: **{verdict}** "
        f"(lowest median {worst:.2f}x).",
        "",
        *([roll_note(slowest), ""] if verdict != "met" else []),
        "Where the time goes, µs per decision (separate pass, timing wrappers around the "
        "environments' `step_arrays`/`reset_arrays`; policy = everything else: tensors, "
        "forward, sampling, buffers):",
        "",
        "| actor | envs | batched: env | batched: policy | naive: env | naive: policy "
        "| policy-side speed-up | ceiling if policy were free |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b, n = r["b"], r["n"]
        ceiling = (n["env"] + n["policy"]) / b["env"]
        out.append(
            f"| {METHODS[r['method']]} | {r['envs']} | {b['env']:.1f} | {b['policy']:.1f} "
            f"| {n['env']:.1f} "
            f"| {n['policy']:.1f} | {n['policy'] / b['policy']:.1f}x | {ceiling:.1f}x |"
        )
    out += [
        "",
        "*Ceiling* = naive µs per decision / batched env µs per decision: the ratio batching "
        "could reach if the batched policy cost nothing. Batching removes per-decision "
        "forward overhead; it cannot remove simulation time, so the end-to-end ratio is bounded "
        "by how expensive the environment is relative to one small forward.",
        end,
    ]
    section = "\n".join(out) + "\n"
    summary = [f"ratio {r['method']} x{r['envs']} envs batched/naive decisions-per-s = "
               f"{statistics.median(r['ratios']):.2f}x" for r in rows]  # fmt: skip
    summary.append(f"ratio batched/naive decisions-per-s = {statistics.median(key['ratios']):.2f}x")
    publish(section, NAME, summary, args.write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
