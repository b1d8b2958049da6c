"""One resume mechanism for every training stage: one format, one fingerprint (device included),
one seed-derivation scheme."""

import torch

from gantext.config import params_from_dict
from gantext.runtime import derive_seed
from gantext.training import adversarial, mle
from gantext.training.checkpoint import load_resume, run_fingerprint, save_resume


def test_the_device_is_part_of_every_fingerprint(tmp_path):
    params = params_from_dict({})
    f = tmp_path / "input.bin"
    f.write_bytes(b"x")
    assert adversarial.resume_fingerprint(params, "cpu", f) != \
        adversarial.resume_fingerprint(params, "cuda:0", f)
    assert adversarial.resume_fingerprint(params, "cpu", f) == \
        adversarial.resume_fingerprint(params, torch.device("cpu"), f)
    assert run_fingerprint("pretrain", "cpu", a=1) != run_fingerprint("pretrain", "cuda", a=1)
    assert run_fingerprint("pretrain", "cpu", a=1) != run_fingerprint("adversarial", "cpu", a=1)


def test_one_format_for_both_stages(tmp_path):
    logs = []
    path = tmp_path / "state.pt"
    save_resume(path, "pretrain", "fp", {"epoch": 3, "w": torch.ones(2)})
    assert load_resume(path, "pretrain", "fp", logs.append)["epoch"] == 3
    assert load_resume(path, "pretrain", "other", logs.append) is None
    assert load_resume(path, "adversarial", "fp", logs.append) is None  # another stage's state
    assert any("stale" in m for m in logs) and any("of stage 'adversarial'" in m for m in logs)
    path.write_bytes(b"garbage")
    assert load_resume(path, "pretrain", "fp", logs.append) is None
    assert "unreadable" in logs[-1]


def test_one_seed_derivation_scheme():
    assert mle.derive_seed is derive_seed and adversarial.derive_seed is derive_seed
    assert derive_seed(0, "adversarial", "noise") != derive_seed(0, "adversarial", "batches")
    assert derive_seed(0, "x") != derive_seed(1, "x")
    assert 0 <= derive_seed(0, "x") < 2 ** 63
