"""What one collection of training steps holds, array by array, for the update to learn from.

`T` steps of `E` parallel envs with `N` stations, observations of size `D`, `A` actions. A row
`[t, e, i]` is station `i` of env `e` before step `t`; only rows where `acting` is set carry a
decision (the others are stations that merely watched the step).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Rollout:
    obs: np.ndarray  # [T, E, N, D] float32: what each station saw before the step
    mask: np.ndarray  # [T, E, N, A] bool: the actions valid there
    acting: np.ndarray  # [T, E, N] bool: the station decided at this step
    actions: np.ndarray  # [T, E, N] int64: the action taken (meaningful where acting)
    logp: np.ndarray  # [T, E, N] float32: its log-probability under the acting policy
    rewards: np.ndarray  # [T, E] float32: team reward of the step
    minutes: np.ndarray  # [T, E] float32: simulated minutes the step took (for gamma ** minutes)
    dones: np.ndarray  # [T, E] bool: the env's episode ended with this step
    final_obs: np.ndarray  # [T, E, N, D] float32: where an episode ended, its last observation
    last_obs: np.ndarray  # [E, N, D] float32: the observation after the rollout's last step

    @classmethod
    def zeros(cls, T: int, E: int, N: int, D: int, A: int) -> Rollout:
        """An empty rollout for `collect` to fill in place."""
        return cls(
            obs=np.zeros((T, E, N, D), np.float32),
            mask=np.zeros((T, E, N, A), bool),
            acting=np.zeros((T, E, N), bool),
            actions=np.zeros((T, E, N), np.int64),
            logp=np.zeros((T, E, N), np.float32),
            rewards=np.zeros((T, E), np.float32),
            minutes=np.zeros((T, E), np.float32),
            dones=np.zeros((T, E), bool),
            final_obs=np.zeros((T, E, N, D), np.float32),
            last_obs=np.zeros((E, N, D), np.float32),
        )
