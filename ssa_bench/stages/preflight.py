"""``ssa-bench preflight``'s measurement: one training step and one evaluation forward of a run's
model on the device at hand, before days of cluster time are spent on it.

:func:`probe` builds the model exactly as the run's training does (the composed mmseg config:
recipe, classifier, test mode, ``model.*`` overrides, the run's optimiser), loads its pretrained
checkpoint strictly when the file is there (random initialisation when it is not, said so), and
runs ``train_step`` (forward, loss, backward, optimiser update) at the run's per-device batch and
crop, then one ``test_step`` on one validation image. With the data set present the batches come
from the run's own data pipelines; without it (or at ``scale`` < 1, where the pipeline's shapes
would not be the scaled ones) they are synthetic tensors of the same shapes, said so.

:func:`model_key` says which runs share a model (their probe is done once); :func:`project` turns
a probe into a run's projected time. Torch is imported only inside :func:`probe`.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass

from ssa_bench.errors import UserError

# Validation images per data set (the split the runs validate and evaluate on), for the
# evaluation estimate when the data set is absent: ADE20K val 2000, COCO-Stuff-10K test 1000,
# PASCAL-Context val 5105, the demo data sets 80 each (ssa_bench/data/demo.py).
VAL_IMAGES = {"ade20k": 2000, "coco_stuff10k": 1000, "pascal_context59": 5105, "demo_shapes": 80, "demo_scenes": 80}
# The smallest side of a scaled crop, and the multiple it is rounded to (every backbone's stride).
MIN_CROP, CROP_MULTIPLE = 64, 32


class ProbeError(UserError):
    """A run's model could not be built, loaded, stepped or evaluated: the run could not start."""


# -- which runs share a model -------------------------------------------------------------------

def model_key(run_config: dict, batch_per_device: int) -> str:
    """What decides the probed model and its memory: everything but the schedule, the seed, the
    learning rate and measuring. Runs with equal keys are probed once."""
    train = run_config.get("train") or {}
    relevant = {
        "baseline": run_config["baseline"], "dataset": run_config["dataset"],
        "dataset_def": run_config.get("dataset_def"), "ssa": run_config.get("ssa"),
        "classifier": run_config.get("classifier"), "evaluate": run_config.get("evaluate"),
        "cfg": {k: v for k, v in (run_config.get("cfg") or {}).items() if k == "model" or k.startswith("model.")},
        "crop_size": train.get("crop_size"), "batch_per_device": batch_per_device,
        "pretrained": train.get("pretrained"), "device": train.get("device"),
    }
    return json.dumps(relevant, sort_keys=True, default=str)


def scaled_crop(crop_size, scale: float) -> list[int]:
    """The crop at ``scale`` (1 = the run's own), a multiple of 32 and at least 64 per side."""
    if scale == 1:
        return [int(c) for c in crop_size]
    return [max(MIN_CROP, int(round(c * scale / CROP_MULTIPLE)) * CROP_MULTIPLE) for c in crop_size]


# -- the projection -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Projection:
    seconds: float
    train_s: float
    eval_s: float
    evaluations: int
    val_images: int
    attempts: int | None          # SLURM jobs the run needs under the time limit (None: no limit)
    requeues: int | None
    fits: bool                    # within the limit and the profile's allowed requeues

    def to_json(self) -> dict:
        return {"projected_s": round(self.seconds, 1), "projected_h": round(self.seconds / 3600, 3),
                "train_s": round(self.train_s, 1), "eval_s": round(self.eval_s, 1),
                "evaluations": self.evaluations, "val_images": self.val_images, "attempts": self.attempts,
                "requeues": self.requeues, "fits": self.fits}


def project(run_config: dict, step_s: float, eval_forward_s: float, val_images: int, world_size: int,
            limit_s: float | None = None, max_requeues: int | None = None) -> Projection:
    """A run's time on this device: ``step_s`` x max_iters, plus every evaluation of the
    validation set (each ``val_interval`` during training, and the evaluate stage), spread over
    ``world_size`` processes, plus the measure stage's latency forwards. ``limit_s``: the usable
    part of one SLURM job (time limit minus the checkpoint signal's lead); a longer run is
    requeued, resuming from its checkpoint."""
    train = run_config["train"]
    max_iters = int(train["max_iters"])
    interval = int(train.get("val_interval") or 0)
    evaluations = (max_iters // interval if interval > 0 else 0) + 1
    measure = run_config.get("measure") or {}
    latency_forwards = int(measure.get("latency_warmup") or 0) + int(measure.get("latency_iters") or 0)
    train_s = step_s * max_iters
    eval_s = eval_forward_s * (val_images * evaluations / max(1, world_size) + latency_forwards)
    total = train_s + eval_s
    if not limit_s:
        return Projection(total, train_s, eval_s, evaluations, val_images, None, None, True)
    attempts = max(1, math.ceil(total / limit_s))
    requeues = attempts - 1
    fits = max_requeues is None or requeues <= max_requeues
    return Projection(total, train_s, eval_s, evaluations, val_images, attempts, requeues, fits)


# -- the probe ----------------------------------------------------------------------------------

class _PeakMemory:
    """Peak memory of one probe: CUDA's max_memory_allocated on a GPU; on the CPU the process's
    resident-set high-water mark, reset before the probe where Linux allows it (VmHWM after
    writing 5 to /proc/self/clear_refs), else getrusage's since the process started."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.how = ""
        self.baseline_mb: float | None = None      # CPU: the resident set when the probe started

    def start(self) -> None:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self.how = "CUDA max_memory_allocated"
            return
        # what earlier models left behind goes back to the OS first, so the peak is this model's
        import ctypes
        import gc

        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):
            pass
        try:
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.how = "process peak RSS (VmHWM, reset before this model; includes torch itself, see baseline_mb)"
        except OSError:
            self.how = "process peak RSS since start (getrusage; an upper bound)"
        self.baseline_mb = self._status_mb("VmRSS:")

    @staticmethod
    def _status_mb(field: str) -> float | None:
        try:
            with open("/proc/self/status") as handle:
                for line in handle:
                    if line.startswith(field):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def peak_mb(self) -> float:
        import torch

        if self.device == "cuda":
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated() / 2**20
        if "VmHWM" in self.how:
            peak = self._status_mb("VmHWM:")
            if peak is not None:
                return peak
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # kB on Linux


def _dataset_present(run_config: dict) -> tuple[bool, str]:
    from ssa_bench.vocabulary.names import DATASETS
    from ssa_bench.data import dataset_root, ensure_datasets

    name, definition = run_config["dataset"], run_config.get("dataset_def")
    if not definition and DATASETS[name].generated:
        from ssa_bench.data import demo

        root = dataset_root(name)
        return demo.is_valid(root, name), f"{name} not generated yet at {root}"
    try:
        ensure_datasets([run_config])
    except UserError as error:
        return False, error.message
    return True, ""


def _eval_size(cfg, crop: list[int], scale: float) -> tuple[int, int]:
    """One validation image's size after the test pipeline's resize: the scale's short side and
    a 4:3 image's long side, capped by the scale's long side (ADE20K's (2048, 512) keep-ratio
    resize makes a 640x480 photo 683x512)."""
    pipeline = cfg.val_dataloader.dataset.pipeline
    resize = next((step for step in pipeline if step.get("type") == "Resize" and step.get("scale")), None)
    if resize is None:
        return tuple(crop)
    long_side, short_side = max(resize["scale"]), min(resize["scale"])
    short = max(MIN_CROP, int(round(short_side * scale)))
    long = min(int(round(long_side * scale)), int(round(short * 4 / 3)))
    return short, max(short, long)


def _synthetic_batch(batch: int, size, num_classes: int, device_seed: int = 0):
    import torch
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    generator = torch.Generator().manual_seed(device_seed)
    height, width = size
    inputs, samples = [], []
    for _ in range(batch):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator))
        label = torch.randint(0, num_classes, (1, height, width), generator=generator)
        label[:, : height // 8] = 255                      # some ignored pixels, as real labels have
        sample = SegDataSample(metainfo=dict(img_shape=(height, width), ori_shape=(height, width),
                                             pad_shape=(height, width), scale_factor=(1.0, 1.0), flip=False,
                                             reduce_zero_label=False))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    return {"inputs": inputs, "data_samples": samples}


def _real_batches(cfg):
    from mmengine.runner import Runner

    train = Runner.build_dataloader(cfg.train_dataloader, seed=0)
    val = Runner.build_dataloader(cfg.val_dataloader, seed=0)
    return next(iter(train)), next(iter(val)), len(val.dataset)


def probe(run_config: dict, *, batch_per_device: int, scale: float = 1.0, steps: int = 2) -> dict:
    """One model's preflight (see the module docstring). Returns a JSON-able dict; raises
    :class:`ProbeError` (one line: what failed and the fix) when the run could not start."""
    import contextlib
    import copy
    import sys
    import tempfile
    import warnings

    import torch

    from ssa_bench.configs import build_mmseg_config
    from ssa_bench.configs.baselines import num_classes
    from ssa_bench.efficiency.latency import resolve_device
    from ssa_bench.stages.runner import import_modules
    from ssa_bench.weights import checkpoint_of

    config = copy.deepcopy(run_config)
    train = config["train"]
    crop = scaled_crop(train["crop_size"], scale)
    train.update(crop_size=crop, batch_size=batch_per_device, num_workers=0)
    try:
        device = resolve_device(train.get("device") or "auto")
    except RuntimeError:
        raise ProbeError("the run asks for train.device: cuda but this machine has no CUDA device",
                         key="train.device", fix="run preflight on a GPU node (e.g. in an salloc session), or "
                                                 "--set train.device=auto to probe on this CPU") from None
    checkpoint = checkpoint_of(config)
    checkpoint_state = "none" if checkpoint.source == "none" else ("loaded" if checkpoint.present else "absent")
    if checkpoint_state == "loaded":
        # the hash or format check `run` makes first: a wrong file is named before anything is built
        from ssa_bench.weights.verify import verify_all

        verdict = next(iter(verify_all([checkpoint]).values()))
        if not verdict.good:
            error = verdict.error()
            raise ProbeError(error.message, file=error.file, key=error.key, fix=error.fix)
    present, why_absent = _dataset_present(config)
    synthetic = scale != 1 or not present
    data_note = ("" if not synthetic else
                 f"synthetic batch at scale {scale:g}" if present else f"synthetic batch: {why_absent}")
    with tempfile.TemporaryDirectory(prefix="ssa-bench-preflight-") as tmp:
        cfg = build_mmseg_config(config, f"{tmp}/runs/preflight/work_dir")
        if checkpoint_state == "absent":
            cfg.model.init_cfg = None                   # random initialisation, said in the result
        eval_size = _eval_size(cfg, crop, scale)
        import_modules((cfg.get("custom_imports") or {}).get("imports", []), init_default_scope=True)
        from mmengine.model import revert_sync_batchnorm
        from mmengine.optim import build_optim_wrapper
        from mmseg.registry import MODELS

        # mmengine logs every parameter's initialisation to stdout through its current logger:
        # a quiet logger of our own becomes current (stdout may be --json)
        from mmengine.logging import MMLogger

        MMLogger.get_instance(f"ssa-bench-preflight-{id(config)}-{time.time_ns()}", log_level="ERROR")
        memory = _PeakMemory(device)
        stage, sync_bn = "building the model", False
        try:
            memory.start()
            # mmseg's MSCAN prints its init_cfg: to stderr, stdout may be --json
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
                warnings.filterwarnings("ignore", category=UserWarning)
                model = MODELS.build(cfg.model)
                stage = "loading the checkpoint" if checkpoint_state == "loaded" else "initialising the model"
                model.init_weights()
            # one process: SyncBN is plain BN, as mmengine's Runner makes it without a process group
            sync_bn = any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
            model = revert_sync_batchnorm(model).to(device)
            params_m = sum(p.numel() for p in model.parameters()) / 1e6
            stage = "reading one batch"
            if synthetic:
                classes = num_classes(config)
                train_batch = _synthetic_batch(batch_per_device, crop, classes)
                val_batch = _synthetic_batch(1, eval_size, classes, device_seed=1)
                val_images = VAL_IMAGES.get(config["dataset"], 0)
            else:
                train_batch, val_batch, val_images = _real_batches(cfg)
                eval_size = tuple(val_batch["inputs"][0].shape[-2:])
            stage = "the training step"
            optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
            model.train()
            times = []
            for _ in range(max(1, steps)):
                started = time.perf_counter()
                log_vars = model.train_step(copy.copy(train_batch), optim_wrapper)
                if device == "cuda":
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - started)
            loss = float(log_vars["loss"].detach()) if torch.is_tensor(log_vars["loss"]) else float(log_vars["loss"])
            if not math.isfinite(loss):
                raise ProbeError(f"the training step's loss is {loss}", key="train",
                                 fix="check the learning rate and the checkpoint")
            stage = "the evaluation forward"
            model.eval()
            with torch.no_grad():
                started = time.perf_counter()
                model.test_step(copy.copy(val_batch))
                if device == "cuda":
                    torch.cuda.synchronize()
                eval_s = time.perf_counter() - started
            peak = memory.peak_mb()
        except ProbeError:
            raise
        except UserError as error:                     # StrictPretrained's mismatch names file and keys
            raise ProbeError(f"{stage} failed: {error.message}", file=error.file, key=error.key,
                             fix=error.fix) from None
        except torch.cuda.OutOfMemoryError:
            raise ProbeError(f"out of memory in {stage} at batch {batch_per_device} x {crop[0]}x{crop[1]} on "
                             f"{torch.cuda.get_device_name()}", key="train.batch_size",
                             fix="use more GPUs per run (slurm: {gpus: N}) so each holds fewer images, or a GPU "
                                 "with more memory") from None
        except Exception as error:                      # noqa: BLE001 -- any failure means the run cannot start
            first = (str(error).strip().splitlines() or [""])[0][:300]
            if sync_bn and batch_per_device == 1 and "more than 1 value per channel" in first:
                # a pooled feature of one image: SyncBN over N GPUs sees N values, one process sees 1
                raise ProbeError(f"{stage} cannot be probed at 1 image per device: {first} (SyncBN over several "
                                 "GPUs has one value per GPU; one process has one)", key="train.batch_size",
                                 fix="probe with at least 2 images per device (--set train.batch_size=...); on one "
                                     "GPU the run itself fails the same way") from None
            if stage == "loading the checkpoint":
                raise ProbeError(f"{stage} failed: {type(error).__name__}: {first}", file=str(checkpoint.path),
                                 key="train.pretrained", fix="the run would fail the same way: point "
                                 "train.pretrained at the right file (`ssa-bench weights check` verifies the "
                                 "catalog's), or none to train from scratch") from None
            raise ProbeError(f"{stage} failed: {type(error).__name__}: {first}", key="baseline",
                             fix="this run would fail the same way; `ssa-bench measure "
                                 f"{config['baseline']}` builds the model alone") from None
        finally:
            if device == "cuda":
                torch.cuda.empty_cache()
    # The first step pays for allocation and warm-up; the steps after it are the steady state.
    step_s = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
    return {"device": device, "device_name": torch.cuda.get_device_name() if device == "cuda" else "cpu",
            "memory_measure": memory.how, "peak_memory_mb": round(peak, 1),
            "baseline_mb": round(memory.baseline_mb, 1) if memory.baseline_mb is not None else None,
            "step_s": round(step_s, 4),
            "first_step_s": round(times[0], 4), "eval_forward_s": round(eval_s, 4), "loss": round(loss, 4),
            "params_m": round(params_m, 3), "batch_per_device": batch_per_device, "crop_size": crop,
            "eval_size": list(eval_size), "scale": scale, "synthetic": synthetic, "data_note": data_note,
            "val_images": val_images,
            "checkpoint": {"state": checkpoint_state, "path": str(checkpoint.path) if checkpoint.path else None}}
