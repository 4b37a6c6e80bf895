"""Stage ``dump``: what the figures need, saved from the trained model on the first validation
images (sorted by file name, so every run of a spec dumps the same images).

``dump/predictions.npz`` (every run): ``names`` (N,), ``images`` uint8 (N, H, W, 3) as read from
disk, ``gt`` (N, H, W) with 255 = ignore, ``pred`` (N, H, W).
``dump/ssa_analysis.npz`` (SSA runs): the arrays of ``ssa_bench.models.ssa.analysis.extract`` --
pixel features, fixed and adapted prototypes, the teacher's when the run trained one -- and ``names``.
"""
from __future__ import annotations

import io
import os

import numpy as np

from ssa_bench.stages.runner import latest_checkpoint, make_runner
from ssa_bench.store import write_bytes_atomic
from ssa_bench.store.paths import run_paths_at

NUM_IMAGES = 4


def _save_npz(path: str, **arrays) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def dump_stage(run_config: dict, run_dir: str) -> dict:
    from mmengine.dataset import pseudo_collate
    from mmseg.registry import DATASETS
    from PIL import Image
    import torch

    paths = run_paths_at(run_dir)
    checkpoint = latest_checkpoint(paths.work_dir)
    if checkpoint is None:
        raise FileNotFoundError(f"no checkpoint in {paths.work_dir}: the train stage did not finish")
    runner = make_runner(run_config, run_dir, "dump", load_from=checkpoint, resume=False)
    runner.load_or_resume()
    model = runner.model
    model.eval()
    dataset = DATASETS.build(runner.cfg.test_dataloader.dataset)
    order = sorted(range(len(dataset)), key=lambda i: dataset.get_data_info(i)["img_path"])[:NUM_IMAGES]
    samples = [dataset[i] for i in order]
    batch = pseudo_collate(samples)
    with torch.no_grad():
        results = model.test_step(batch)
    names = np.array([os.path.basename(dataset.get_data_info(i)["img_path"]) for i in order])
    images = np.stack([np.asarray(Image.open(dataset.get_data_info(i)["img_path"]).convert("RGB")) for i in order])
    gt = np.stack([s["data_samples"].gt_sem_seg.data[0].numpy().astype(np.uint8) for s in samples])
    pred = np.stack([r.pred_sem_seg.data[0].cpu().numpy().astype(np.uint8) for r in results])
    dump_dir = paths.dump_dir
    os.makedirs(dump_dir, exist_ok=True)
    files = [os.path.join(dump_dir, "predictions.npz")]
    _save_npz(files[0], names=names, images=images, gt=gt, pred=pred)
    if (run_config.get("ssa") or {}).get("enabled"):
        from ssa_bench.models.ssa import extract

        data = model.data_preprocessor(pseudo_collate(samples), False)
        arrays = extract(model, data["inputs"], data["data_samples"])
        files.append(os.path.join(dump_dir, "ssa_analysis.npz"))
        _save_npz(files[1], names=names, **arrays)
    if run_config.get("classifier"):
        from ssa_bench.models.classifiers.analysis import extract as classifier_arrays

        data = model.data_preprocessor(pseudo_collate(samples), False)
        arrays = classifier_arrays(model, data["inputs"], data["data_samples"],
                                   run_config["classifier"]["type"])
        if arrays is not None:
            files.append(os.path.join(dump_dir, "classifier_analysis.npz"))
            _save_npz(files[-1], names=names, **arrays)
    return {"files": [os.path.relpath(f, run_dir) for f in files], "n_images": len(order),
            "checkpoint": os.path.relpath(checkpoint, run_dir)}
