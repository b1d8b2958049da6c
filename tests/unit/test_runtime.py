"""gantext.runtime and the `runtime` params section: threads only on CPU, determinism as a param,
the heap kept (no per-step page faults), bf16 autocast with a finite <pad>/<bos> logit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from _toy import needs_bf16_lstm

from gantext.config import ConfigError, RuntimeConfig, params_from_dict
from gantext.runtime import (autocast, autocast_dtype, configure, seed_everything,
                             set_deterministic, single_threaded)


@pytest.fixture
def restore_runtime():
    threads, det = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    yield
    torch.set_num_threads(threads)
    set_deterministic(det)


# ----------------------------------------------------------------------------- config
def test_runtime_section_defaults_and_values() -> None:
    assert params_from_dict({}).runtime == RuntimeConfig()
    p = params_from_dict({"runtime": {"precision": "fp32", "deterministic": False}})
    assert p.runtime == RuntimeConfig(precision="fp32", deterministic=False)


@pytest.mark.parametrize("section, needle", [
    ({"precision": "fp16"}, "runtime.precision"),
    ({"precision": "bfloat16"}, "runtime.precision"),
    ({"deterministic": "yes"}, "runtime.deterministic"),
    ({"threads": 2}, "unknown params key 'runtime.threads'"),
])
def test_runtime_section_is_validated(section, needle) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        params_from_dict({"runtime": section})


# ----------------------------------------------------------------------------- threads, determinism
def test_single_threaded_only_on_cpu(restore_runtime) -> None:
    torch.set_num_threads(2)
    single_threaded(torch.device("cuda"))  # a device object needs no GPU
    assert torch.get_num_threads() == 2
    single_threaded("cpu")
    assert torch.get_num_threads() == 1


def test_deterministic_is_a_parameter_not_forced(restore_runtime) -> None:
    seed_everything(0, deterministic=False)
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.backends.cudnn.benchmark and not torch.backends.cudnn.deterministic
    torch.set_num_threads(2)
    configure(RuntimeConfig(deterministic=False), torch.device("cuda"))
    assert not torch.are_deterministic_algorithms_enabled()
    assert torch.get_num_threads() == 2  # a CUDA stage keeps its host threads
    configure(RuntimeConfig(deterministic=True), "cpu")
    assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
    assert torch.get_num_threads() == 1
    seed_everything(0)  # the default stays deterministic (the house guarantee on CPU)
    assert torch.are_deterministic_algorithms_enabled()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc only")
def test_retained_heap_stops_per_step_page_faults() -> None:
    """A 64 MiB tensor allocated and freed per 'step' page-faults all of it in every time under
    glibc's default (mmap above 32 MiB); after retain_freed_memory() the heap is reused."""
    script = textwrap.dedent("""
        import resource, sys, torch
        from gantext.runtime import retain_freed_memory
        if sys.argv[1] == "retain":
            assert retain_freed_memory()
        def step():
            torch.ones(16 * 2**20).sum()   # 64 MiB
        for _ in range(3):  # warm-up: small allocations may split the first freed block
            step()
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            step()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    """)

    def faults(mode: str) -> int:
        out = subprocess.run([sys.executable, "-c", script, mode], check=True,
                             capture_output=True, text=True)
        return int(out.stdout.strip())

    pages = 64 * 2**20 // 4096
    assert faults("default") > 3 * pages   # the churn this removes (16k faults a step)
    assert faults("retain") < pages // 2  # less than half of ONE step's pages in 5 steps


# ----------------------------------------------------------------------------- precision
def test_autocast_precisions() -> None:
    x, w = torch.randn(3, 8), torch.randn(5, 8)
    with autocast("bf16", "cpu"):
        assert torch.nn.functional.linear(x, w).dtype == torch.bfloat16
    with autocast("fp32", "cpu"):
        assert torch.nn.functional.linear(x, w).dtype == torch.float32
    assert autocast_dtype("fp32") is None
    with pytest.raises(ConfigError, match="runtime.precision"):
        autocast_dtype("fp16")


@needs_bf16_lstm
def test_never_logit_stays_finite_under_bf16() -> None:
    """<pad>/<bos> get the generator's -1e9 logit: finite in bf16 (fp32's exponent range), so
    their probability is exactly 0 and no 0 * inf NaN appears; fp16 (not offered) would overflow."""
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.text.vocab import BOS_ID, PAD_ID

    torch.manual_seed(0)
    model = build_generator(GeneratorSpec(vocab_size=12, embed_dim=4, hidden_dim=8, max_len=5))
    inputs = torch.randint(3, 12, (2, 5))
    with autocast("bf16", "cpu"):
        logits, _ = model(inputs)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    probs = torch.softmax(logits.float(), dim=-1)
    assert (probs[..., [PAD_ID, BOS_ID]] == 0).all()
    assert torch.isfinite((probs * torch.log_softmax(logits.float(), -1)).sum(-1)).all()
    assert torch.isinf(logits.float().min().to(torch.float16))  # why fp16 is not a precision


def test_autocast_region_sees_every_optimizer_step() -> None:
    """One bf16 region may span several updates (D pretraining, a round of D steps): each
    forward must use the weights as they are now, not a bf16 copy cached at the first one."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(8, 1)
    opt = torch.optim.SGD(layer.parameters(), lr=1.0)
    x = torch.randn(4, 8)
    with autocast("bf16", "cpu"):
        layer(x).sum().backward()
        opt.step()
        inside = layer(x).detach()
    with autocast("bf16", "cpu"):
        fresh = layer(x).detach()
    assert torch.equal(inside, fresh)


def test_bf16_falls_back_to_fp32_where_the_cpu_has_no_bf16_lstm(monkeypatch) -> None:
    """An AVX2-only CPU has no oneDNN bf16 LSTM: bf16 must become fp32 with a message naming the
    key, not oneDNN's "could not create a primitive descriptor" from the middle of pretrain."""
    import gantext.runtime as rt

    said: list[str] = []
    monkeypatch.setattr(rt, "bf16_lstm_supported", lambda device_type: False)
    assert rt.resolve_precision("bf16", "cpu", log=said.append) == "fp32"
    assert len(said) == 1 and "runtime.precision" in said[0] and "fp32" in said[0]
    assert rt.resolve_precision("fp32", "cpu", log=said.append) == "fp32" and len(said) == 1
    assert rt.resolve_precision("bf16", "cpu", log=said.append, key="--precision",
                                explicit="pass --precision fp32") == "fp32"
    assert said[1].startswith("--precision bf16") and "pass --precision fp32" in said[1]
    said.pop()
    monkeypatch.setattr(rt, "bf16_lstm_supported", lambda device_type: True)
    assert rt.resolve_precision("bf16", "cpu", log=said.append) == "bf16" and len(said) == 1
    with pytest.raises(ConfigError, match="runtime.precision"):
        rt.resolve_precision("fp16", "cpu")


def test_bf16_lstm_probe_agrees_with_a_real_lstm() -> None:
    """The probe's answer is what an LSTM of the sizes the stages use does on this machine."""
    from gantext.runtime import bf16_lstm_supported

    lstm = torch.nn.LSTM(16, 32, batch_first=True)
    try:
        with autocast("bf16", "cpu"):
            lstm(torch.randn(32, 21, 16))[0].float().sum().backward()
        ran = True
    except RuntimeError:
        ran = False
    assert bf16_lstm_supported("cpu") is ran


def test_bf16_lstm_probe_leaves_the_seeded_stream_alone() -> None:
    """evaluate asks after seeding: the probe's weights must not shift the samples it draws."""
    from gantext.runtime import bf16_lstm_supported

    torch.manual_seed(7)
    expected = torch.rand(5)
    torch.manual_seed(7)
    bf16_lstm_supported.__wrapped__("cpu")  # uncached: really builds and runs the probe
    assert torch.equal(torch.rand(5), expected)


def test_trim_if_large_stops_keeping_memory_once_above_the_limit(monkeypatch, capsys):
    """The kept heap is bounded: above runtime.kept_heap_limit_gb of resident memory the process
    stops keeping freed memory (once, said on stderr); below it nothing changes (speed kept)."""
    import gantext.runtime as rt

    calls = []
    monkeypatch.setattr(rt, "stop_retaining_freed_memory", lambda: calls.append(1) or True)
    monkeypatch.setattr(rt, "_kept_heap_limit_gb", None)
    assert rt.trim_if_large() is False and not calls  # not configured: never
    monkeypatch.setattr(rt, "resident_bytes", lambda: 3 * 2 ** 30)
    monkeypatch.setattr(rt, "_kept_heap_limit_gb", 4.0)
    assert rt.trim_if_large() is False and not calls  # below
    monkeypatch.setattr(rt, "_kept_heap_limit_gb", 2.0)
    assert rt.trim_if_large() is True and calls == [1]
    assert "3.0 GB resident > runtime.kept_heap_limit_gb (2)" in capsys.readouterr().err
    assert rt.trim_if_large() is False and calls == [1]  # once per process


def test_stop_retaining_freed_memory_sets_glibc_back(monkeypatch):
    """Big blocks mmapped again and returned on free, then one trim (glibc only)."""
    import gantext.runtime as rt

    set_to = []

    class Fn:
        def __init__(self, name):
            self.name = name

        def __call__(self, *args):
            set_to.append((self.name, *args))
            return 1

    monkeypatch.setattr(rt, "_libc_function", lambda name: Fn(name))
    assert rt.stop_retaining_freed_memory() is True
    assert ("mallopt", rt._M_MMAP_MAX, 65536) in set_to
    assert ("mallopt", rt._M_MMAP_THRESHOLD, 1 << 20) in set_to
    assert ("malloc_trim", 0) in set_to


def test_resident_bytes_reads_this_process():
    import gantext.runtime as rt

    big = bytearray(64 * 2 ** 20)  # touched: resident
    assert rt.resident_bytes() > len(big)


def test_configure_keeps_the_heap_only_with_a_limit(monkeypatch):
    import gantext.runtime as rt
    from gantext.config import RuntimeConfig

    monkeypatch.setattr(rt, "retain_freed_memory", lambda: True)
    monkeypatch.setattr(rt, "_kept_heap_limit_gb", None)
    rt.configure(RuntimeConfig(kept_heap_limit_gb=0.5), "cpu")
    assert rt._kept_heap_limit_gb == 0.5
    monkeypatch.setattr(rt, "_kept_heap_limit_gb", None)
    kept = []
    monkeypatch.setattr(rt, "retain_freed_memory", lambda: kept.append(1) or True)
    rt.configure(RuntimeConfig(kept_heap_limit_gb=0), "cpu")
    assert rt._kept_heap_limit_gb is None and not kept
