"""Same seed, same result across refactors: short seeded training runs on every shipped line
must give the weights (sha256 over every tensor) and KPIs recorded before the round-2 layout
change (tests/data/same_result.json). Float rounding follows the CPU's kernels, so the record
holds one set of runs per kernel family (SIMD level and vendor: AMD and Intel AVX-512 round
differently) and a machine of another family skips. Regenerate only for an intended change of
behaviour: `python tests/test_same_result.py --write` records this machine's family; say why
in the commit."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from pathlib import Path

import pytest
import torch

from factory_twin.scenario import load_scenario
from factory_twin.train.config import TrainConfig
from factory_twin.train.evaluate import evaluate_actor, evaluate_heuristic
from factory_twin.train.mappo import MAPPO

ROOT = Path(__file__).resolve().parent.parent
RECORD = Path(__file__).parent / "data" / "same_result.json"
# the lines the record was made on; lines shipped later are trained by test_shipped_lines
LINES = [ROOT / "scenarios" / f"{name}.yaml" for name in ("bottling", "engine", "smt")]
# pinned rather than the defaults, so that a change of default is not a change of code
SHORT = dict(total_steps=2048, n_envs=2, rollout_len=64, hidden=(32, 32), episode_minutes=120.0,
             update_epochs=4, switch_fraction=0.5, adapter_ent_coef=0.03,
             adapter_ent_anneal=False, lorasa_base="ps")  # fmt: skip


def kernel_family() -> str:
    """The CPU's SIMD level and vendor, e.g. "AVX512 GenuineIntel": what float rounding of
    torch's kernels depends on."""
    vendor = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        line = next(
            (ln for ln in cpuinfo.read_text().splitlines() if ln.startswith("vendor_id")), ""
        )
        vendor = line.partition(":")[2].strip() or vendor
    return f"{torch.backends.cpu.get_cpu_capability()} {vendor}"


def _digest(*modules: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for module in modules:
        for name, tensor in sorted(module.state_dict().items()):
            h.update(name.encode())
            h.update(tensor.detach().contiguous().numpy().tobytes())
    return h.hexdigest()


def fingerprint(path: Path, method: str) -> dict:
    """Weights digest and one evaluation seed's KPIs of a short run (CONWIP for 'conwip')."""
    sc = load_scenario(path)
    if method == "conwip":
        return {"kpis": evaluate_heuristic(sc, "conwip", [7])[0].summary()}
    trainer = MAPPO(sc, TrainConfig(method=method, seed=3, **SHORT))
    trainer.train()
    kpis = evaluate_actor(sc, trainer.actor, [7])[0].summary()
    return {"weights": _digest(trainer.actor, trainer.critic), "kpis": kpis}


CASES = [(p, m) for p in LINES for m in ("ps", "lorasa", "conwip")]


@pytest.mark.parametrize("path,method", CASES, ids=[f"{p.stem}-{m}" for p, m in CASES])
def test_short_training_run_is_unchanged(path: Path, method: str) -> None:
    runs = json.loads(RECORD.read_text())["kernels"].get(kernel_family())
    if runs is None:
        pytest.skip(f"not recorded on {kernel_family()} kernels; float rounding differs")
    assert fingerprint(path, method) == runs[f"{path.stem}/{method}"]


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    doc = json.loads(RECORD.read_text())
    doc["kernels"][kernel_family()] = {f"{p.stem}/{m}": fingerprint(p, m) for p, m in CASES}
    RECORD.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
