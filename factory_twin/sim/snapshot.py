"""A plain, JSON-friendly picture of a line at one instant.

The visualizer draws snapshots and the event log stores them, so neither needs the live SimPy
objects: replaying a recorded run and watching a live one go through the same code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from factory_twin.sim.line import STATES, Line


@dataclass
class MachineSnap:
    state: str  # one of line.STATES
    product: int  # product on the machine (processing, set up for, or blocked with), -1 if none
    age: float  # wear minutes since last repair or PM


@dataclass
class StationSnap:
    name: str
    buffer: list[int]  # parts waiting, per product
    capacity: int | None
    machines: list[MachineSnap]
    processed: int
    scrapped: int
    setups: int
    pms: int
    failures: int
    state_fractions: dict[str, float]  # since the start of the measured window
    action_probs: list[float] | None = None  # filled in by a learned policy's driver


@dataclass
class LineSnap:
    time: float
    products: list[str]
    stations: list[StationSnap]
    good: int
    scrapped: int
    wip: int
    throughput: float  # good parts per minute since the start of the measured window
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> LineSnap:
        stations = [
            StationSnap(**{**s, "machines": [MachineSnap(**m) for m in s["machines"]]})
            for s in d["stations"]
        ]
        return LineSnap(**{**d, "stations": stations})


def snapshot(line: Line) -> LineSnap:
    """Read the line's current state (closes time accounting at `line.now` first)."""
    line.flush()
    window = max(line.now - line.warmup, 0.0)
    stations = []
    for st in line.stations:
        spent = [sum(m.time_in[i] for m in st.machines) for i in range(len(STATES))]
        total = sum(spent)
        machines = [
            MachineSnap(
                STATES[m.state],
                m.current_product if m.current_product >= 0 else m.last_product,
                round(m.age, 3),
            )
            for m in st.machines
        ]
        s = st.stats
        stations.append(
            StationSnap(
                name=st.name,
                buffer=st.buffer.counts(),
                capacity=st.spec.buffer,
                machines=machines,
                processed=s.processed,
                scrapped=s.scrapped,
                setups=s.setups,
                pms=s.pms,
                failures=s.failures,
                state_fractions={
                    n: (spent[i] / total if total else 0.0) for i, n in enumerate(STATES)
                },  # fmt: skip
            )
        )
    t = line.totals
    return LineSnap(
        time=round(line.now, 4),
        products=line.scenario.product_names,
        stations=stations,
        good=t.good,
        scrapped=t.scrapped,
        wip=line.wip,
        throughput=t.good / window if window > 0 else 0.0,
    )
