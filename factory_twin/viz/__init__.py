"""Pygame viewer for line snapshots: drivers (what to show), layout/render (how to draw it),
app (window loop and PNG/GIF export). Importing this package imports nothing heavy; only the
render, layout, text and app modules need pygame, and the simulator never imports any of it.

The viewer's use of the simulator (see `factory_twin.sim`): drawing code sees only plain
`sim.snapshot.LineSnap`s, `sim.line.STATES` and `sim.actions` labels. Only the drivers touch
a live line. `drivers.HeuristicDriver` runs a `sim.line.Line` under a heuristic decider
through `Line.run_to`, `now`, `warmup`, `end` and `sim.snapshot.snapshot`: the viewer
animates the simulator itself, and heuristics need no env. `learned.LearnedDriver` goes
through `env.LineEnv` (`step_arrays`, `now`, `snapshot()`), as all learning code does.
"""
