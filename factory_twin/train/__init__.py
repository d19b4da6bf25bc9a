"""Learning: MAPPO over the env for every method of the policy registry.

- `config`: `TrainConfig`, the settings of one training run (no torch, so any layer can name one);
- `mappo`: the trainer, read top to bottom like CleanRL's ppo.py; `rollout` its typed batch;
- `jobs`: training and evaluation as pure jobs that return weights, episodes and curves
  (the executor runs them anywhere, the driver stores what they return);
- `evaluate`: greedy evaluation on held-out seeds, and heuristics measured the same way;
- `pipeline`: a training run end to end in this process (checkpoints, resume), storing and
  loading trained policies; `checkpoint`, `tensors` its file format;
- `adapt`: what-if re-training of one station's adapter.

Learning code reaches the simulator only through `env.LineEnv`.
"""
