"""The words every stage shares, each defined once: what a metric is called, its unit, which
direction is better and how many decimals it prints with. Leaf room: imports nothing of ssa_bench."""
