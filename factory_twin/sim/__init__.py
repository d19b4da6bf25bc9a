"""The discrete-event simulator (SimPy). `line` runs a scenario under a decider, `distributions`
holds its seeded samplers, `actions` codes machine decisions, `kpi` reads a finished run,
`snapshot` pictures a line at one instant (viewer, event log), `run` is the one-call simulation,
and `queueing` holds the closed forms the tests validate it against. It never imports learning
code."""
