"""The optimisation section of a run's config: the baseline's optim wrapper (with ``train.lr``
when the run sets one), its learning-rate schedule stretched to the run's length, and the
iteration-based train/val/test loops.

Starts from the run's recipe (``baselines.run_recipe``), which already holds the data set's
learning rate; nothing here reads mmseg's files.
"""
from __future__ import annotations

import copy


def schedule_section(run_config: dict, recipe) -> dict:
    """``optim_wrapper``, ``param_scheduler`` and the loops of a run, as config keys."""
    train = run_config["train"]
    optim_wrapper = copy.deepcopy(recipe.optim_wrapper)
    if train.get("lr") is not None:
        optim_wrapper["optimizer"]["lr"] = float(train["lr"])
    return dict(
        optim_wrapper=optim_wrapper,
        param_scheduler=stretch_schedule(recipe.param_scheduler, train["max_iters"]),
        train_cfg=dict(type="IterBasedTrainLoop", max_iters=train["max_iters"], val_interval=train["val_interval"]),
        val_cfg=dict(type="ValLoop"),
        test_cfg=dict(type="TestLoop"),
    )


def stretch_schedule(param_scheduler: list[dict], max_iters: int) -> list[dict]:
    """A recipe's schedule with its decay ending at ``max_iters``, as mmcv 1.x ran it.

    mmcv 1.x's ``PolyLrUpdaterHook`` (which the authors' mmseg 0.x used) decays over all
    iterations from 0 and multiplies that lr by the linear warm-up factor during the warm-up
    (``mmcv/runner/hooks/lr_updater.py``: ``get_lr`` with ``progress = runner.iter``,
    ``max_progress = runner.max_iters``; ``get_warmup_lr``). mmengine's schedulers are
    chainable: ``LinearLR`` over the warm-up and ``PolyLR`` over the whole run, both active
    during the warm-up, give exactly that product when the poly decays to 0 (every warm-up
    recipe here). An mmengine scheduler reaches its end value at step ``end - 1``
    (``total_iters = end - begin - 1``), so ``end`` is one past mmcv's ``warmup_iters`` and
    ``max_iters``; tests/configs/test_poly_span.py compares both at several iterations.

    The warm-up keeps its length (1500 iterations at 160k and at 80k, as the authors ran
    it) unless that is more than a tenth of the run -- a short CPU run -- where it is cut
    to a tenth.
    """
    if max_iters < 1:
        raise ValueError(f"max_iters must be positive, got {max_iters}")
    schedulers = copy.deepcopy(param_scheduler)
    *warmups, decay = schedulers
    warmup_end = max((s["end"] for s in warmups), default=0)
    if warmup_end > max_iters // 10:
        warmup_end = max_iters // 10
        warmups = [w for w in warmups if warmup_end > w.get("begin", 0)]
    if warmups and decay.get("eta_min", 0.0) != 0.0:
        # (lr - eta_min) * poly + eta_min is not a product with the warm-up factor
        raise ValueError("a warm-up chained with a poly decay to eta_min != 0 is not mmcv 1.x's schedule")
    for warmup in warmups:
        warmup["end"] = warmup_end + 1
    decay["begin"] = 0
    decay["end"] = max_iters + 1
    return warmups + [decay]
