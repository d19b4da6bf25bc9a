"""Is a scenario in the Markovian subset the exact optimum can solve? If so, its numbers.

The subset: exponential process times (per product), exponential or Erlang time to failure
(counted in wear-age, as the simulator counts it), exponential repair, exponential or Erlang
changeovers (a fixed 0 is no changeover) and preventive maintenance, speed modes, a saturated,
Poisson or CONWIP source, finite buffers, any number of parallel machines. The first field
that breaks the subset, in schema order, is reported.
"""

from __future__ import annotations

from factory_twin.errors import NotMarkovianError
from factory_twin.optimum.model import LineModel, ModeModel, Stages, StationModel
from factory_twin.scenario import (
    ConwipSource,
    Deterministic,
    Distribution,
    Erlang,
    Exponential,
    Scenario,
    Station,
    order_rate,
)


def markovian_model(scenario: Scenario, file: str = "<scenario>") -> LineModel:
    """The line's rates; NotMarkovianError naming the first field outside the subset."""
    source = scenario.source
    stations = tuple(
        _station(st, i, scenario.product_names, file) for i, st in enumerate(scenario.stations)
    )
    costs = scenario.costs
    return LineModel(
        products=tuple(scenario.product_names),
        mix=tuple(p.mix for p in scenario.products),
        # orders under a CONWIP cap are a Poisson source whose arrivals also need WIP < limit
        source="poisson" if order_rate(source) is not None else source.kind,
        arrival_rate=order_rate(source) or 0.0,
        wip_limit=source.limit if isinstance(source, ConwipSource) else 0,
        stations=stations,
        wait_time=scenario.wait_time,
        good_unit=costs.good_unit,
        scrap_cost=costs.scrap,
        wip_cost=costs.wip_per_minute,
        pm_cost=costs.pm,
    )


def _station(st: Station, i: int, products: list[str], file: str) -> StationModel:
    where = f"stations.{i}"
    if st.buffer is None:
        raise NotMarkovianError(
            file, f"{where}.buffer", "optimum needs a finite buffer (an integer), got null"
        )
    rates = tuple(1.0 / _exponential_mean(st, k, where, file) for k in products)
    setup = _setups(st, products, where, file)
    phases, phase_rate, repair_rate = _failure(st, where, file)
    pm = None
    if st.pm is not None:
        pm = _stages(st.pm.time, f"{where}.pm.duration", "PM duration", file)
    modes = [ModeModel(1.0, 1.0, st.scrap_prob)]
    fast = st.speed_modes.fast
    if fast is not None:
        modes.append(ModeModel(fast.time_factor, fast.wear_factor, fast.scrap_prob))
    return StationModel(
        name=st.name,
        machines=st.machines,
        capacity=st.buffer,
        process_rate=rates,
        modes=tuple(modes),
        phases=phases,
        phase_rate=phase_rate,
        repair_rate=repair_rate,
        setup=setup,
        pm=pm,
        pm_resets=st.pm.resets_age if st.pm is not None else True,
    )


def _exponential_mean(st: Station, product: str, where: str, file: str) -> float:
    spec = st.process_for(product)
    path = f"{where}.process.{product}" if isinstance(st.process, dict) else f"{where}.process"
    if not isinstance(spec, Exponential):
        raise NotMarkovianError(
            file, f"{path}.dist", f"optimum needs exponential process times, got {spec.dist}"
        )
    return spec.mean


def _setups(st: Station, products: list[str], where: str, file: str) -> tuple:
    """setup[a][b] as Stages, None where the changeover takes no time."""
    found = {}
    if st.setup is not None:
        for key, spec in zip(st.setup.from_to, st.setup.distributions().items(), strict=True):
            (a, b), dist = spec
            if dist.mean > 0:
                path = f"{where}.setup.from_to.{key}"
                found[(a, b)] = _stages(dist, path, "setup time", file)
    return tuple(tuple(found.get((a, b)) for b in products) for a in products)


def _stages(spec: Distribution, path: str, what: str, file: str) -> Stages:
    """An exponential or Erlang duration as Erlang stages; a fixed one is outside the subset."""
    if isinstance(spec, Exponential):
        return Stages(1, 1.0 / spec.mean)
    if isinstance(spec, Erlang):
        return Stages(spec.k, spec.k / spec.mean)
    got = f"a fixed {spec.value:g} min" if isinstance(spec, Deterministic) else spec.dist
    raise NotMarkovianError(
        file,
        path,
        f"optimum needs an exponential or Erlang {what} (write {{dist: exponential, mean: ...}}),"
        f" got {got}",
    )


def _failure(st: Station, where: str, file: str) -> tuple[int, float, float]:
    """(Erlang phases, rate of each phase in wear minutes, repair rate)."""
    fail = st.failure
    if fail is None:
        return 0, 0.0, 0.0
    phases = _phases(fail.ttf, f"{where}.failure.ttf", file)
    if not isinstance(fail.ttr, Exponential):
        raise NotMarkovianError(
            file,
            f"{where}.failure.ttr.dist",
            f"optimum needs an exponential time to repair, got {fail.ttr.dist}",
        )
    return phases, phases / fail.ttf.mean, 1.0 / fail.ttr.mean


def _phases(ttf: Distribution, path: str, file: str) -> int:
    if isinstance(ttf, Exponential):
        return 1
    if isinstance(ttf, Erlang):
        return ttf.k
    raise NotMarkovianError(
        file,
        f"{path}.dist",
        f"optimum needs an exponential or Erlang time to failure, got {ttf.dist}",
    )
