"""factory-twin: a digital twin of production lines whose stations are learning agents.

Layers, from the planner's file to the planner's screen:
- `scenario`: the line as YAML describes it (models, loading, capacity);
- `sim`: the SimPy simulator and its KPIs; it never imports learning code;
- `env`, `observation`: the PettingZoo env, the one seam between simulation and learning;
- `policy`: every policy by name (`registry`), heuristics, LoRA layers and networks;
- `train`: MAPPO, jobs that train and evaluate, stored policies, what-if adaptation;
- `optimum`: exact optimum of small Markovian lines;
- `store`: the policy store on disk and the SQL run log;
- `execute`: where jobs run (this process, a local pool, Ray);
- `workflows`: what each command does; `comparison` the numbers a comparison finds;
  `report`, `compare_report`: rendering only;
- `viz`: the pygame viewer; `cli`: parse, call a workflow, print;
- `faults`: named crash points, so tests can kill a process between two steps of a write.
"""
