"""Latency of one batch-1 forward, by one protocol on every device.

The SSA authors timed batch-1 inference over 200 test images after 5 warm-up iterations (V100),
as does mmseg's ``benchmark.py`` (5 + 200, CUDA synchronisation). Here: ``warmup`` untimed
forwards, then ``iters`` timed forwards of a fixed random image, no grad, eval mode; the median
and the 10th/90th percentiles are reported with the device name, dtype and thread count, since a
figure without them cannot be compared with another.

* CUDA: each forward is bracketed by CUDA events recorded on the current stream and the device
  is synchronised before reading them, so the time is GPU time, not launch time.
* CPU: ``torch.set_num_threads(threads)`` for the duration (restored afterwards); wall time
  around each forward with ``time.perf_counter``.
"""
from __future__ import annotations

import platform
import statistics
import time

import torch
from torch import nn


def resolve_device(device: str = "auto") -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("latency on 'cuda' was requested but no CUDA device is available")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    return device


def cpu_name() -> str:
    """The CPU model as the OS reports it (``/proc/cpuinfo`` on Linux), else platform's guess."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def _percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of sorted values."""
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def summarize(times_ms: list[float]) -> dict:
    values = sorted(times_ms)
    return {"median_ms": round(statistics.median(values), 3),
            "p10_ms": round(_percentile(values, 0.10), 3),
            "p90_ms": round(_percentile(values, 0.90), 3)}


def _time_cuda(model: nn.Module, image: torch.Tensor, warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        model(image)
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        model(image)
        end.record()
        # elapsed_time needs both events completed; synchronising on the end event waits for
        # exactly this forward's kernels.
        end.synchronize()
        times.append(start.elapsed_time(end))
    return times


def _time_cpu(model: nn.Module, image: torch.Tensor, warmup: int, iters: int) -> list[float]:
    for _ in range(warmup):
        model(image)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        model(image)
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def measure_latency(model: nn.Module, input_size: tuple[int, int], *, warmup: int = 5,
                    iters: int = 200, threads: int = 1, device: str = "auto",
                    dtype: torch.dtype = torch.float32) -> dict:
    """Time ``model(image)`` for a (1, 3, h, w) image; the contract's ``latency`` record.

    ``model`` is moved to the device and dtype and put in eval mode (left there). ``threads``
    fixes the CPU intra-op thread count during the measurement (also recorded on CUDA, where it
    only affects host-side work).
    """
    if iters < 1 or warmup < 0 or threads < 1:
        raise ValueError(f"need iters >= 1, warmup >= 0, threads >= 1 "
                         f"(got {iters}, {warmup}, {threads})")
    device = resolve_device(device)
    model = model.to(device=device, dtype=dtype).eval()
    image = torch.randn(1, 3, *input_size, device=device, dtype=dtype)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            if device == "cuda":
                times = _time_cuda(model, image, warmup, iters)
                device_name = torch.cuda.get_device_name(torch.cuda.current_device())
            else:
                times = _time_cpu(model, image, warmup, iters)
                device_name = cpu_name()
    finally:
        torch.set_num_threads(previous_threads)
    return {**summarize(times), "device": device, "device_name": device_name,
            "dtype": str(dtype).replace("torch.", ""), "threads": threads, "warmup": warmup,
            "iters": iters, "input_size": list(input_size)}
