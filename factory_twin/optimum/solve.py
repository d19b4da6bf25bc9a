"""Long-run average reward of a policy on a `Chain`, and the optimal policy, exactly.

The chain is semi-Markov (decisions take no time, tangible states last 1/total rate on
average), so policy iteration works on it directly, without uniformization: evaluating a
policy solves one sparse linear system, h(s) + g tau(s) - sum_s' P(s, s') h(s') = r(s) with
h(ref) = 0, whose transpose gives the visit rates of the states (visits per minute); the
improvement step picks, in every decision state, the action with the largest
r - g tau + P h. It ends in a few iterations with the exact optimal gain of the team reward.

Small systems are factorised directly (sparse LU). The chains of production lines are
product spaces whose LU fills in badly (30,000 states can need tens of millions of
nonzeros), so above `DIRECT_LIMIT` states the systems are solved by GMRES with an incomplete
LU preconditioner, to a relative residual of `RTOL`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, gmres, spilu, splu

from factory_twin.optimum.chain import Chain
from factory_twin.sim import actions

MAX_ITERATIONS = 200
REF = 0  # the state whose relative value is pinned to 0
DIRECT_LIMIT = 10_000  # states; above, iterative solves
RTOL = 1e-12


@dataclass
class Evaluation:
    choice: np.ndarray  # the chosen choice of every state
    gains: np.ndarray  # long-run reward per minute, per column of Chain.rewards
    visits: np.ndarray  # visits of each state per minute
    bias: np.ndarray  # relative values (h) of the objective's reward
    iterations: int = 0


def evaluate(chain: Chain, choice: np.ndarray, objective: int = 0) -> Evaluation:
    """Gains, visit rates and relative values (of reward column `objective`) of the fixed
    policy `choice`."""
    n = chain.n_states
    P = chain.P[choice]
    tau = chain.tau[choice]
    A = (sp.identity(n, format="csr") - P).tocsc()
    keep = np.ones(n)
    keep[REF] = 0.0
    A = A @ sp.diags(keep) + sp.csc_matrix((tau, (np.arange(n), np.full(n, REF))), shape=(n, n))
    solve = _direct(A.tocsc()) if n <= DIRECT_LIMIT else _iterative(A.tocsc())
    rewards = chain.rewards[choice]
    e_ref = np.zeros(n)
    e_ref[REF] = 1.0
    visits = solve(e_ref, True)
    x = solve(rewards[:, objective], False)
    bias = x.copy()
    bias[REF] = 0.0
    return Evaluation(choice, visits @ rewards, visits, bias)


def _direct(A: sp.csc_matrix):
    """solve(b, transposed) by sparse LU."""
    try:
        lu = splu(A)
    except RuntimeError as exc:  # singular: the policy splits the line into separate classes
        raise RuntimeError(f"the policy's chain is not unichain ({exc})") from None
    return lambda b, transposed: lu.solve(b, trans="T" if transposed else "N")


def _iterative(A: sp.csc_matrix):
    """solve(b, transposed) by GMRES, preconditioned with an incomplete LU of A."""
    ilu = spilu(A, drop_tol=1e-4, fill_factor=10)
    n = A.shape[0]
    pre = LinearOperator((n, n), ilu.solve)
    pre_t = LinearOperator((n, n), lambda v: ilu.solve(v, trans="T"))
    At = A.T.tocsc()

    def solve(b: np.ndarray, transposed: bool) -> np.ndarray:
        x, info = gmres(
            At if transposed else A,
            b,
            M=pre_t if transposed else pre,
            rtol=RTOL,
            atol=0.0,
            restart=50,
            maxiter=400,
        )
        if info != 0:
            raise RuntimeError(f"GMRES did not converge on {n} states (info {info})")
        return x

    return solve


def fixed(chain: Chain) -> Evaluation:
    """Evaluate a chain built under one policy (a single choice per state)."""
    if len(chain.choice_state) != chain.n_states:
        raise ValueError("the chain offers several choices in some state; use optimise")
    return evaluate(chain, np.arange(chain.n_states))


def optimise(chain: Chain, objective: int = 0) -> Evaluation:
    """The policy of maximal long-run reward in column `objective` (0: team reward, 1: good
    parts), by policy iteration from 'process the first waiting product at normal speed'."""
    n_choices = len(chain.choice_state)
    choice = _initial(chain)
    for it in range(1, MAX_ITERATIONS + 1):
        ev = evaluate(chain, choice, objective)
        gain = ev.gains[objective]
        q = chain.rewards[:, objective] - gain * chain.tau + chain.P @ ev.bias
        best = np.maximum.reduceat(q, chain.starts)
        tol = 1e-9 * (1.0 + np.abs(q).max())
        better = best > q[choice] + tol
        if not better.any():
            ev.iterations = it
            return ev
        near = q >= best[chain.choice_state] - tol
        first = np.minimum.reduceat(np.where(near, np.arange(n_choices), n_choices), chain.starts)
        choice = np.where(better, first, choice)
    raise RuntimeError(f"policy iteration did not settle in {MAX_ITERATIONS} iterations")


def _initial(chain: Chain) -> np.ndarray:
    """Per state, its first choice that is not 'wait' (decision states always offer one)."""
    n_choices = len(chain.choice_state)
    ok = chain.choice_action != actions.WAIT
    return np.minimum.reduceat(np.where(ok, np.arange(n_choices), n_choices), chain.starts)
