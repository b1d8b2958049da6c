"""`gantext verify`: the workspace's metrics vs a revision's, figure by figure; and the `machine`
block every stage writes into its metrics JSON (what verify names as "committed on / run on")."""

import json
import subprocess
from pathlib import Path

import pytest

from gantext import cli, provenance
from gantext.verify import compare_figures, render, verify

DVC_YAML = """stages:
  evaluate:
    cmd: python -c pass
    metrics:
      - metrics/evaluate.json:
          cache: false
  pretrain:
    cmd: python -c pass
    metrics:
      - metrics/pretrain.json:
          cache: false
"""
MACHINE_A = {"cpu": "Intel Xeon", "isa": "avx2 avx512f avx512_bf16 amx_tile amx_bf16",
             "torch": "2.13.0+cpu", "torch_cpu": "AVX512", "blas": "mkl 2024.2"}
MACHINE_B = {**MACHINE_A, "cpu": "AMD EPYC", "isa": "avx2 avx512f avx512_bf16"}


def _evaluate(bleu5: float, nll: float, machine: dict) -> dict:
    return {"mle": {"bleu5": bleu5, "bleu5_lo": 0.68, "bleu5_hi": 0.70, "nll": nll,
                    "n_samples": 2000},
            "real": {"fid_floor": 0.0026, "fid_floor_lo": 0.002, "fid_floor_hi": 0.003},
            "protocol": {"ci_level": 0.95}, "machine": machine}


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root,
                   check=True, capture_output=True)


@pytest.fixture()
def repo(tmp_path: Path) -> Path:
    (tmp_path / "metrics").mkdir()
    (tmp_path / "dvc.yaml").write_text(DVC_YAML)
    (tmp_path / "params.yaml").write_text("seed: 0\nevaluate:\n  sweep_temperatures:\n  - 1.0\n")
    (tmp_path / "metrics/evaluate.json").write_text(json.dumps(_evaluate(0.6945, 1.2872,
                                                                         MACHINE_A)))
    (tmp_path / "metrics/pretrain.json").write_text(json.dumps({"test_nll": 1.2872,
                                                                "machine": MACHINE_A}))
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "add", "-A")
    _git(tmp_path, "commit", "-qm", "committed figures")
    return tmp_path


def test_compare_figures_reads_intervals_and_tolerances() -> None:
    old = {"a": {"x": 0.5, "x_lo": 0.4, "x_hi": 0.6, "n": 10, "y": 1.0, "s": "text"},
           "machine": MACHINE_A}
    new = {"a": {"x": 0.61, "x_lo": 0.5, "x_hi": 0.7, "n": 10, "y": 1.005, "s": "other",
                 "z": 3.0}, "machine": MACHINE_B}
    got = {f.key: f.verdict for f in compare_figures("m.json", old, new, rtol=0.01)}
    # the bounds are the figure's yardstick, not figures; the machine block is not compared
    assert got == {"a.x": "outside", "a.n": "equal", "a.y": "close", "a.s": "apart",
                   "a.z": "new"}
    inside = {f.key: f.verdict for f in compare_figures("m.json", old, {"a": {"x": 0.6}})}
    assert inside["a.x"] == "within" and inside["a.y"] == "missing"  # bounds included


def test_verify_identical_workspace_says_bit_identical(repo: Path) -> None:
    cmp = verify(repo)
    assert cmp.identical and cmp.reproduced
    text = render(cmp)
    assert "reproduced within the 95% interval: 2 of 2" in text
    assert "bit-identical: yes" in text and "Intel Xeon" in text


def test_verify_other_machine_within_interval(repo: Path, capsys) -> None:
    (repo / "metrics/evaluate.json").write_text(json.dumps(_evaluate(0.6892, 1.2883, MACHINE_B)))
    (repo / "metrics/pretrain.json").write_text(json.dumps({"test_nll": 1.2883,
                                                            "machine": MACHINE_B}))
    code = cli.main(["verify", "--root", str(repo)])
    out = capsys.readouterr().out
    assert code == 0
    assert "reproduced within the 95% interval: 2 of 2" in out
    assert "mle.bleu5" in out and "inside" in out  # the changed figure is listed
    line = next(ln for ln in out.splitlines() if ln.startswith("bit-identical"))
    assert line.startswith("bit-identical: no — committed on Intel Xeon") and "AMD EPYC" in line
    assert "(no AMX)" in line  # the ISA flag that matters is named
    assert "2 within 1%" in out  # the two NLLs: no interval, 0.09% apart


def test_verify_outside_interval_exits_3_and_names_the_figure(repo: Path, capsys) -> None:
    (repo / "metrics/evaluate.json").write_text(json.dumps(_evaluate(0.75, 1.2872, MACHINE_A)))
    (repo / "params.yaml").write_text("seed: 1\nevaluate:\n  sweep_temperatures: [1.0]\n")
    code = cli.main(["verify", "--brief", "--root", str(repo)])
    out = capsys.readouterr().out
    assert code == cli.EXIT_NOT_REPRODUCED
    assert "reproduced within the 95% interval: 1 of 2" in out
    assert "OUTSIDE" in out and "mle.bleu5" in out
    # only seed changed: the list's other form is no change
    assert "params.yaml differs from HEAD's (seed)" in out


def test_verify_against_an_experiment_name_and_unknown_rev(repo: Path, capsys) -> None:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                          text=True).stdout.strip()
    _git(repo, "update-ref", f"refs/exps/{head[:2]}/{head[2:]}/my-exp", head)
    assert verify(repo, "my-exp").commit == head
    assert cli.main(["verify", "--root", str(repo), "--against", "nope"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: 'nope' is not a commit") and err.count("\n") == 1


def test_record_machine_appends_the_block_and_keeps_the_key_order(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"mle": {"bleu5": 0.7}, "gan": {"bleu5": 0.8}}))
    provenance.record_machine(path)
    data = json.loads(path.read_text())
    assert list(data) == ["mle", "gan", "machine"]
    m = data["machine"]
    assert {"cpu", "isa", "torch", "torch_cpu", "numpy", "python"} <= set(m)
    assert all(isinstance(v, str) for v in m.values())
    assert set(m["isa"].split()) <= set(provenance.ISA_FLAGS) or m["isa"] == "unknown"
    assert provenance.describe_machine(m).startswith(m["cpu"])
    assert provenance.describe_machine(None) == "unknown (not recorded)"


def test_verify_names_changed_inputs_not_derived_outputs(repo: Path, capsys) -> None:
    """Figures made from other code or data are not a machine difference: the note names the
    dvc.lock deps that changed, leaving out the outputs of upstream stages."""
    import yaml

    def lock(src: str, model: str) -> str:
        return yaml.safe_dump({"schema": "2.0", "stages": {
            "pretrain": {"cmd": "x", "deps": [{"path": "src/gantext", "md5": src}],
                         "outs": [{"path": "models/pretrain", "md5": model}]},
            "evaluate": {"cmd": "y", "deps": [{"path": "models/pretrain", "md5": model}],
                         "outs": []}}})
    (repo / "dvc.lock").write_text(lock("a.dir", "m1.dir"))
    _git(repo, "add", "dvc.lock")
    _git(repo, "commit", "-qm", "lock")
    (repo / "dvc.lock").write_text(lock("b.dir", "m2.dir"))
    assert cli.main(["verify", "--root", str(repo)]) == 0
    out = capsys.readouterr().out
    assert "other inputs than HEAD's (src/gantext)" in out and "models/pretrain" not in out
