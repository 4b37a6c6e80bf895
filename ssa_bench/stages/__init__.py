"""Run stages: train, evaluate, measure, dump; each `fn(run_config, run_dir) -> dict`."""
