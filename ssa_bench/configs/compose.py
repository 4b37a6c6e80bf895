"""Run config -> a complete mmengine ``Config`` for mmseg, section by section, each built once
by its own module:

1. the run's recipe (``baselines.run_recipe``): the baseline as it trains on the run's data set;
2. the model (``model.py``: recipe, crop, test protocol, pixel classifier, ``model.*`` overrides);
3. the optimisation (``schedule.py``: optim wrapper, schedule stretched to the run, loops);
4. the hooks (``runner_hooks.py``: checkpoints, logging, progress, trackers);
5. the data (``dataloaders.py``: mmseg's shipped pipelines adjusted, evaluators; the multi-scale
   test of ``evaluate.aug_test`` from ``multi_scale.py``);
6. the run's other raw ``cfg`` overrides, last (``overrides.py``).

Distributed facts (launcher, world size) come from the environment the executor sets
(``SSA_BENCH_LAUNCHER``, SLURM's task variables), read by :mod:`ssa_bench.runtime`.
"""
from __future__ import annotations

from ssa_bench.configs.baselines import run_recipe
from ssa_bench.configs.dataloaders import data_section
from ssa_bench.configs.model import model_section
from ssa_bench.configs.overrides import apply_config_overrides
from ssa_bench.configs.runner_hooks import hooks_section
from ssa_bench.configs.schedule import schedule_section
from ssa_bench.runtime import launcher

# Modules the config names for mmengine to import: the bench's data sets, hooks and metric register there.
HOOKS_IMPORT = "ssa_bench.stages.hooks"
METRIC_IMPORT = "ssa_bench.stages.iou_metric"      # registers SSABenchIoUMetric, the evaluators' type
DATASETS_IMPORT = "ssa_bench.data.mmseg_datasets"


def build_mmseg_config(run_config: dict, work_dir: str):
    from mmengine.config import Config

    recipe = run_recipe(run_config)
    model, imports = model_section(run_config, recipe)
    schedule = schedule_section(run_config, recipe)
    hooks = hooks_section(run_config, work_dir)
    data, test_time_aug = data_section(run_config)
    cfg = Config(dict(
        default_scope="mmseg",
        custom_imports=dict(imports=imports + [DATASETS_IMPORT, HOOKS_IMPORT, METRIC_IMPORT],
                            allow_failed_imports=False),
        model=model,
        **data,
        **schedule,
        default_hooks=hooks["default_hooks"],
        custom_hooks=hooks["custom_hooks"],
        env_cfg=dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method="fork", opencv_num_threads=0),
                     dist_cfg=dict(backend="nccl" if run_config["train"].get("device") != "cpu" else "gloo")),
        vis_backends=hooks["vis_backends"],
        visualizer=hooks["visualizer"],
        log_processor=dict(by_epoch=False),
        log_level="INFO",
        load_from=None,
        resume=True,            # continue from the newest checkpoint in work_dir (requeue, Ctrl-C)
        randomness=dict(seed=int(run_config["seed"])),
        launcher=launcher(),
        work_dir=work_dir,
        **test_time_aug,
    ),
        # mmengine runs the config text through yapf each time it logs, dumps or checkpoints it:
        # ~0.35 s a time, over a quarter of a tiny run. Unformatted, the text is the same Python.
        format_python_code=False)
    return apply_config_overrides(cfg, run_config)
