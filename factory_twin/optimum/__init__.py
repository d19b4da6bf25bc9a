"""The exact optimum of small Markovian lines: a yardstick every policy is held against.

`markovian` checks that a scenario is in the solvable subset and reads its rates, `state` and
`chain` build the controlled Markov chain with the simulator's semantics, `solve` finds the
long-run average reward of a fixed policy and the optimal policy, `policies` writes the fixed
policies on the chain's state, `structure` describes a policy in words, `decider` plays a
solved policy in the simulator, `yardstick` is the use case behind `factory-twin optimum` (and
solves the "% of optimum" yardstick of `run` and `compare`) and `value` holds that yardstick.
The model and its assumptions: docs/optimum.md.
"""
