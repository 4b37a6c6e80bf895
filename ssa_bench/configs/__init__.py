"""Run config -> mmseg/mmengine Config, one module per section (``compose.py`` calls them in
order): the baseline recipes (``baselines``), the model (``model``, with ``classifier`` and
``overrides``), the optimisation (``schedule``), the hooks (``runner_hooks``, with ``tracking``),
the data (``dataloaders``, with ``multi_scale`` for ``evaluate.aug_test``).

The functions are imported on call: ``import ssa_bench.configs`` stays cheap for callers that
only read facts.
"""


def build_mmseg_config(run_config: dict, work_dir: str):
    from ssa_bench.configs.compose import build_mmseg_config as build

    return build(run_config, work_dir)


def build_model_config(run_config: dict) -> tuple[dict, list[str]]:
    """``(model config, custom_imports)`` of a run: what every stage that builds a model builds."""
    from ssa_bench.configs.baselines import run_recipe
    from ssa_bench.configs.model import model_section

    return model_section(run_config, run_recipe(run_config))


__all__ = ["build_model_config", "build_mmseg_config"]
