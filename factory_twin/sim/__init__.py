"""The discrete-event simulator (SimPy). `line` runs a scenario under a decider (its input
buffers are in `buffer`), `distributions` holds its seeded samplers, `actions` codes machine
decisions, `kpi` reads a finished run, `snapshot` pictures a line at one instant (viewer,
event log), `run` is the one-call simulation, and `queueing` holds the closed forms the tests
validate it against. It never imports learning code.

Which of it the other layers may use, and why:
- Everyone: `actions`, `kpi.KPIs`, `snapshot.LineSnap`, `line.STATES`, and `run.simulate`
  (a whole horizon under a decider: CLI, sweeps, heuristic baselines).
- Heuristics (`policy.heuristics`) are deciders: they read the `StationSim` and `Machine`
  the simulator hands them at a decision and answer with an action code.
- The environment (`env`, `observation`) is the one seam to learning: only it builds lines
  without deciders and uses `Line.advance`, `Line.answer`, `clock.call_every`, the parked requests
  (`StationSim.pending`) and the change flags (`Line.buffers_changed`,
  `Line.machines_changed`). Learning code reaches the simulator through `env.LineEnv` alone
  (its `kpis()` and `snapshot()` wrap `kpi.collect` and `snapshot.snapshot`).
- The viewer animates the simulator itself: its heuristic driver (`viz.drivers`) builds a
  `Line` with a decider and uses `Line.run_to`, `now`, `warmup`, `end` and
  `snapshot.snapshot`, nothing else; heuristics decide inside the simulator, so no env is
  needed. Drawing code sees only `LineSnap`s.
"""
