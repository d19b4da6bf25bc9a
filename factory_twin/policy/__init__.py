"""Policies: `registry` names every one (heuristics and learned methods, labels, aliases);
`heuristics` holds the rule-based deciders; `lora` the multi-agent LoRA layer; `networks` the
actor and centralised critic built from it; `acting` batched action choice."""
