"""params.yaml is kept in the form `dvc exp run -S` writes back, so an experiment leaves no diff
of form (issue 30: `-S` used to rewrite the flow-style lists, +13/-3 lines of the same meaning)."""
import shutil
from pathlib import Path

import pytest

from dvc.utils.hydra import apply_overrides  # what `dvc exp run -S` / `--queue -S` calls

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.mark.parametrize("change, reset", [
    (["seed=1"], ["seed=0"]),
    (["adversarial.loss=rsgan", "tokenize.max_size=5"], ["adversarial.loss=seqgan", "tokenize.max_size=0"]),
    # lists: set and set back (DVC replaces the whole list, dropping comments attached to it)
    (["evaluate.sweep_temperatures=[0.5,1.0]", "tokenize.vocab_splits=[train,valid]",
      "model.discriminator.kernel_sizes=[3]"],
     ["evaluate.sweep_temperatures=[0.7,0.85,1.0,1.2,1.5]", "tokenize.vocab_splits=[train]",
      "model.discriminator.kernel_sizes=[2,3,4,5]"]),
])
def test_set_and_reset_leaves_params_yaml_unchanged(tmp_path, change, reset):
    copy = tmp_path / "params.yaml"
    shutil.copy(PARAMS, copy)
    apply_overrides(str(copy), change)
    changed = copy.read_text()
    apply_overrides(str(copy), reset)
    assert changed != PARAMS.read_text()
    assert copy.read_text() == PARAMS.read_text()
