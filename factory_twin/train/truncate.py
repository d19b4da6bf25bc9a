"""Dynamic rank after adaptation: the smallest adapter rank each station needs.

Each station's adapter is cut by SVD of each layer's ``B A`` (`policy.truncation`) to the
smallest rank whose greedy throughput stays within the evaluation confidence interval of the
stored policy: the mean over the evaluation seeds may not fall below the interval's lower end
(one-sided: doing better is no reason to keep rank). Every candidate runs on the same seeds as
the stored policy (common random numbers), so the comparison sees the same breakdowns and
process times wherever the decisions agree.

Stations are cut one after another, each with the stations before it already cut. Rank 0 is
tried first (a station whose adapter changes nothing needs none), then the rank is found by
bisection between 1 and the full rank: the SVD error shrinks as the rank grows, so the
throughput is taken to approach the stored policy's monotonically. The policy that is finally
stored was itself evaluated and passed (or equals the stored one), and no station's rank is
chosen on a policy that is never used. The cost is at most ``1 + ceil(log2 rank)`` evaluations
per station (4 at rank 8). Stations that keep their full rank keep
their stored version; every cut adapter becomes a new version of its own rank (fewer
parameters on disk), published as a new LoRASA set.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

from factory_twin.policy.networks import Actor
from factory_twin.policy.truncation import padded, singular_values, truncated
from factory_twin.scenario import Scenario
from factory_twin.stats import Estimate, mean_ci
from factory_twin.store.policies import PolicyStore
from factory_twin.store.policy_sets import LorasaSet
from factory_twin.store.runlog import Database
from factory_twin.train.evaluate import evaluate_actor
from factory_twin.train.pipeline import Trained, load_trained, publish_adapters


@dataclass
class Truncation:
    """What truncation found: per station the rank kept and each layer's singular values of
    ``B A``; the stored and the truncated policy's greedy throughput (parts/min) on the same
    seeds; the set published (None when every station needs its full rank)."""

    rank: int  # the policy's adapter rank
    ranks: dict[str, int]
    singular: dict[str, dict[str, list[float]]]
    stored: Estimate
    truncated: Estimate
    published: LorasaSet | None


def _throughput(scenario: Scenario, actor: Actor, seeds: list[int]) -> list[float]:
    return [k.throughput for k in evaluate_actor(scenario, actor, seeds)]


def smallest_ranks(
    scenario: Scenario,
    actor: Actor,
    seeds: list[int],
    on_station: Callable[[str, int], None] | None = None,
) -> tuple[dict[str, int], Actor, Estimate, Estimate]:
    """(rank per station, the truncated actor, stored and truncated throughput estimates);
    `actor` itself is left as it is. `on_station(name, rank)` reports each station's choice."""
    rank = actor.config.rank
    stored = mean_ci(_throughput(scenario, actor, seeds))
    work = copy.deepcopy(actor)
    ranks: dict[str, int] = {}
    final = stored
    for i, st in enumerate(scenario.stations):
        full = actor.export_adapter(i)

        def passes(r: int, i: int = i, full: dict = full) -> Estimate | None:
            work.load_adapter(i, padded(truncated(full, r), rank))
            got = mean_ci(_throughput(scenario, work, seeds))
            return got if got.mean >= stored.low else None

        ranks[st.name], kept = smallest_passing(passes, rank)
        r = ranks[st.name]  # at full rank the stored adapter itself, not its SVD rebuild
        work.load_adapter(i, full if r == rank else padded(truncated(full, r), rank))
        final = final if kept is None else kept
        if on_station is not None:
            on_station(st.name, ranks[st.name])
    return ranks, work, stored, final


def smallest_passing(
    passes: Callable[[int], Estimate | None], rank: int
) -> tuple[int, Estimate | None]:
    """The smallest rank in [0, rank] that `passes` (rank itself always does, unevaluated),
    with its estimate: 0 first, then bisection."""
    got = passes(0)
    if got is not None:
        return 0, got
    lo, hi, best = 1, rank, None
    while lo < hi:
        mid = (lo + hi) // 2
        got = passes(mid)
        if got is not None:
            hi, best = mid, got
        else:
            lo = mid + 1
    return hi, best


def truncate_policy(
    scenario: Scenario,
    db: Database,
    store: PolicyStore,
    seeds: list[int],
    on_station: Callable[[str, int], None] | None = None,
) -> Truncation:
    """Truncate the stored LoRASA policy of `scenario` and publish the cut adapters."""
    t = load_trained(store, scenario, "lorasa")
    ranks, work, stored, final = smallest_ranks(scenario, t.actor, seeds, on_station)
    rank = t.actor.config.rank
    singular = {
        st.name: singular_values(t.actor.export_adapter(i))
        for i, st in enumerate(scenario.stations)
    }
    cut = {
        i: truncated(t.actor.export_adapter(i), ranks[st.name])
        for i, st in enumerate(scenario.stations)
        if ranks[st.name] < rank
    }
    published = None
    if cut:
        assert t.lorasa_set is not None  # load_trained sets it for LoRASA
        kpis = {"throughput": final.mean, "truncated_from_rank": rank}
        done = Trained("lorasa", work, t.critic, t.run_id, t.config, t.lorasa_set)
        published = publish_adapters(store, db, scenario, done, t.lorasa_set, cut, kpis)
    return Truncation(rank, ranks, singular, stored, final, published)
