"""Training settings: one dataclass, the defaults measured on the shipped lines.

Kept apart from the trainer so the CLI, workflows and job descriptions can name a
configuration (and its defaults) without importing torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ADAPTER_LAYERS = ("all", "deeper")  # which hidden layers carry adapters (policy.networks)
LORASA_BASES = ("ps", "ps-id")  # shared policies LoRASA's adapters can start from
# when LoRASA's base phase ends: after `switch_fraction` of the budget ("fixed"), or at the
# first greedy curve point that is no better than the ones before (train/switch.py), at the
# latest after `switch_fraction` ("plateau")
LORASA_SWITCHES = ("fixed", "plateau")


@dataclass
class TrainConfig:
    """Training settings; the defaults were measured on the shipped scenarios.

    Round 2 (benchmarks/bench_training.py, methods_table.py): width (128, 128) and 3 PPO epochs
    train 1.4-2x as many env steps per CPU-second as round 1's (256, 256) x 4 epochs (by CPU);
    on bottling, width 64 lost the filler's fast mode on one of two seeds. The speed costs
    learning on some lines: at 400k steps over 5 seeds, 3-13% below round 1's configuration on
    bottling, engine and smt, within it on the other three (benchmarks/RESULTS.md, "Round 1's
    training configuration against the defaults"); on engine and smt, round 1's width, its
    epochs or twice the steps each win back part of it, and none brings PS all the way back
    ("Which of the defaults' changes costs learning"). Eight minibatches instead of four (the
    same width and epochs) brought PS on bottling and smt and LoRASA on smt back within round
    1's interval at 1.0-1.13x the defaults' seconds per run; engine stayed below ("Smaller
    minibatches at the defaults' width"); with 2 epochs they cost what the defaults cost and
    learned no more. On the other three lines they stayed within round 1's interval for both
    methods at 1.03-1.22x ("The defaults with 8 minibatches, the next default to weigh"): 9 of
    the 12 pairs within, against 5 of 12 for these defaults in the same runs. Not the default
    yet: every table that names the defaults (methods on every line, the ablations) would have
    to be measured again with it, and engine would still miss. LoRASA switches to its adapters
    half-way: an early switch (10%) froze a base on bottling that had not learned to batch or
    push the filler (40.9 against 51.5 parts/h, 5 seeds), and gained +0.7 parts/h (not
    separated) on glass_line ("Exploration after the switch")."""

    method: str = "lorasa"  # one of policy.registry.METHODS
    total_steps: int = 400_000  # env steps over all parallel envs (the shared budget)
    n_envs: int = 16  # more lines per batched forward pass: less torch overhead per step
    rollout_len: int = 128  # steps per env per update
    episode_minutes: float = 480.0  # one shift per training episode
    gamma: float = 0.99  # discount per simulated minute (decisions come at irregular times)
    gae_lambda: float = 0.95  # per decision of a station
    lr: float = 5e-4
    adapter_lr: float = 2e-3  # adapters start at zero and are tiny: a larger step is safe
    anneal_lr: bool = True  # linear decay to zero within each phase
    update_epochs: int = 3
    minibatches: int = 4
    clip: float = 0.2
    # the gain of one fast part at a bottleneck is small next to the return's noise; a
    # stronger entropy bonus keeps trying it long enough for the critic to see the gain
    ent_coef: float = 0.03
    # LoRASA's adapter phase: adapters start at zero on a base that has all but stopped trying
    # the actions only some stations should take (glass_line: fast at 1-2% everywhere at the
    # switch), and their gradient is proportional to that probability. This bonus at the switch
    # makes them try again; it falls linearly to zero by the end, so the adapted policy ends
    # decided (benchmarks/RESULTS.md, "Exploration after the switch")
    adapter_ent_coef: float = 0.1
    adapter_ent_anneal: bool = True  # False: the adapter phase's bonus stays constant
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    hidden: tuple[int, ...] = (128, 128)
    rank: int = 8
    alpha: float | None = None
    adapter_layers: str = "all"  # one of ADAPTER_LAYERS
    switch_fraction: float = 0.5  # LoRASA: share of the budget training the shared base first
    lorasa_switch: str = "fixed"  # LoRASA: one of LORASA_SWITCHES
    # LoRASA: the shared policy its adapters start from, one of LORASA_BASES. As in the paper,
    # the base sees the station id: from plain PS, adapters on a settled base stayed below PS+ID
    # (bottling -8.8 parts/h); from PS+ID they match it (benchmarks/RESULTS.md, "The base the
    # adapters start from"). "ps" keeps a base that can take a new station (`adapt --station`)
    lorasa_base: str = "ps-id"
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.lorasa_base not in LORASA_BASES:
            raise ValueError(f"lorasa_base must be one of {LORASA_BASES}, got {self.lorasa_base!r}")
        if self.lorasa_switch not in LORASA_SWITCHES:
            raise ValueError(
                f"lorasa_switch must be one of {LORASA_SWITCHES}, got {self.lorasa_switch!r}"
            )

    def to_dict(self) -> dict:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d


def config_from_dict(stored: dict, **overrides) -> TrainConfig:
    """A TrainConfig from a run's stored config (unknown keys ignored, lists to tuples)."""
    fields = TrainConfig.__dataclass_fields__
    kept = {k: v for k, v in stored.items() if k in fields}
    if "hidden" in kept:
        kept["hidden"] = tuple(kept["hidden"])
    return TrainConfig(**{**kept, **overrides})
