"""Run config -> mmseg/mmengine Config: baseline recipes (``baselines``) and their composition
with a data set and a schedule (``compose``)."""


def build_mmseg_config(run_config: dict, work_dir: str):
    from ssa_bench.configs.compose import build_mmseg_config as build

    return build(run_config, work_dir)


__all__ = ["build_mmseg_config"]
