"""The learning rate of a composed schedule against mmcv 1.x's, the authors' (mmseg 0.x).

mmcv 1.x, ``mmcv/runner/hooks/lr_updater.py`` (branch 1.x @1d8f928): ``PolyLrUpdaterHook.get_lr``
(lines 246-252) is ``(base_lr - min_lr) * (1 - iter / max_iters) ** power + min_lr`` from iteration
0; ``before_train_iter`` (140-150) uses it once ``iter >= warmup_iters``, and before that
``get_warmup_lr`` (87-95), linear: ``regular_lr * (1 - (1 - iter / warmup_iters) * (1 - warmup_ratio))``.
Written out again here from that text; the composed mmengine schedulers run on a real optimizer.
"""
from __future__ import annotations

import pytest

from ssa_bench.configs.baselines import baseline_recipe
from ssa_bench.configs.schedule import stretch_schedule


def mmcv1_lr(it: int, base_lr: float, max_iters: int, power: float, min_lr: float,
             warmup_iters: int, warmup_ratio: float) -> float:
    regular = (base_lr - min_lr) * (1 - it / max_iters) ** power + min_lr
    if it >= warmup_iters:
        return regular
    k = (1 - it / warmup_iters) * (1 - warmup_ratio)
    return regular * (1 - k)


def mmengine_lrs(schedulers: list[dict], base_lr: float, iters: list[int]) -> dict[int, float]:
    """The lr mmengine's schedulers give at each of ``iters`` (0-based, before that iteration's step)."""
    import torch
    from mmengine.optim import OptimWrapper
    from mmengine.registry import PARAM_SCHEDULERS

    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=base_lr)
    wrapper = OptimWrapper(optimizer)
    built = [PARAM_SCHEDULERS.build({**s, "optimizer": wrapper}) for s in schedulers]
    out, wanted = {}, set(iters)
    for it in range(max(iters) + 1):
        if it in wanted:
            out[it] = optimizer.param_groups[0]["lr"]
        for scheduler in built:         # ParamSchedulerHook.after_train_iter, in list order
            scheduler.step()
    return out


@pytest.mark.parametrize("max_iters", [160_000, 80_000])
def test_warmup_and_poly_as_mmcv_1x(max_iters):
    recipe = baseline_recipe("segformer_b5", 150)       # AdamW 6e-5, linear warm-up 1500 (1e-6), poly 1.0 to 0
    schedulers = stretch_schedule(recipe.param_scheduler, max_iters)
    base = recipe.lr_for("ade20k")
    iters = [0, 1, 700, 1499, 1500, 1501, 40_000, max_iters // 2, max_iters - 1]
    got = mmengine_lrs(schedulers, base, iters)
    for it in iters:
        want = mmcv1_lr(it, base, max_iters, power=1.0, min_lr=0.0, warmup_iters=1500, warmup_ratio=1e-6)
        assert got[it] == pytest.approx(want, rel=1e-9, abs=1e-18), it


def test_poly_with_a_minimum_without_warmup_as_mmcv_1x():
    recipe = baseline_recipe("ocrnet_hr48", 150)        # SGD 0.01, poly 0.9 to 1e-4, no warm-up
    schedulers = stretch_schedule(recipe.param_scheduler, 80_000)
    iters = [0, 1, 1500, 40_000, 79_999]
    got = mmengine_lrs(schedulers, 0.01, iters)
    for it in iters:
        want = mmcv1_lr(it, 0.01, 80_000, power=0.9, min_lr=1e-4, warmup_iters=0, warmup_ratio=1.0)
        assert got[it] == pytest.approx(want, rel=1e-9), it


def test_the_difference_it_makes():
    # the span mmengine's PolyLR would take from 1500 instead: 0.95% higher lr at 160k, 1.9% at 80k
    assert mmcv1_lr(1500, 1.0, 160_000, 1.0, 0.0, 1500, 1e-6) == pytest.approx(1 - 1500 / 160_000)
