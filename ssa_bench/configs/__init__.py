"""Run config -> mmseg/mmengine Config: baseline recipes (``baselines``), the one model-config
builder (``model``) and their composition with a data set and a schedule (``compose``).

The functions are imported on call: ``import ssa_bench.configs`` stays cheap for callers that
only read facts such as ``configs.protocol``.
"""


def build_mmseg_config(run_config: dict, work_dir: str):
    from ssa_bench.configs.compose import build_mmseg_config as build

    return build(run_config, work_dir)


def build_model_config(run_config: dict) -> tuple[dict, list[str]]:
    """``(model config, custom_imports)`` of a run: what every stage that builds a model builds."""
    from ssa_bench.configs.model import build_model_config as build

    return build(run_config)


__all__ = ["build_model_config", "build_mmseg_config"]
