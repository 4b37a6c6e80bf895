"""The latency protocol: what is recorded with every figure, and the statistics."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from ssa_bench.efficiency.latency import measure_latency, resolve_device, summarize

RECORD_KEYS = {"median_ms", "p10_ms", "p90_ms", "device", "device_name", "dtype", "threads",
               "warmup", "iters", "input_size"}


class CountingModel(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.calls = 0
        self.saw_grad = False
        self.threads_seen = []

    def forward(self, x):
        self.calls += 1
        self.saw_grad |= torch.is_grad_enabled()
        self.threads_seen.append(torch.get_num_threads())
        return self.conv(x)


def test_records_device_threads_and_protocol_on_cpu():
    model = CountingModel().train()
    before = torch.get_num_threads()
    record = measure_latency(model, (16, 12), warmup=2, iters=5, threads=1, device="cpu")
    assert set(record) == RECORD_KEYS
    assert record["device"] == "cpu" and record["device_name"]
    assert (record["threads"], record["warmup"], record["iters"]) == (1, 2, 5)
    assert record["dtype"] == "float32" and record["input_size"] == [16, 12]
    assert model.calls == 7                          # warm-up + timed forwards
    assert not model.saw_grad and not model.training
    assert set(model.threads_seen) == {1}            # the fixed thread count during timing
    assert torch.get_num_threads() == before         # and restored afterwards
    assert 0 < record["p10_ms"] <= record["median_ms"] <= record["p90_ms"]


def test_summary_percentiles():
    stats = summarize([float(v) for v in range(1, 12)])       # 1..11 ms
    assert stats == {"median_ms": 6.0, "p10_ms": 2.0, "p90_ms": 10.0}
    assert summarize([3.0]) == {"median_ms": 3.0, "p10_ms": 3.0, "p90_ms": 3.0}


def test_bad_arguments():
    with pytest.raises(ValueError):
        measure_latency(CountingModel(), (8, 8), iters=0)
    with pytest.raises(ValueError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(RuntimeError, match="no CUDA device"):
            resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_timing_records_the_gpu():
    record = measure_latency(CountingModel(), (32, 32), warmup=1, iters=3, device="cuda")
    assert record["device"] == "cuda"
    assert record["device_name"] == torch.cuda.get_device_name(torch.cuda.current_device())
