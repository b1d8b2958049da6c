"""gantext.lineage on a fake pipeline workspace (dvc.lock + outputs + metrics written by hand).

That the md5s equal what real DVC records is asserted by tests/pipeline/test_caching.py after a
real `dvc repro`; here dvc.lock is written with provenance.dvc_md5, which test_tracking.py checks
against `dvc add`.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from gantext import lineage, provenance, tracking
from gantext.config import params_from_dict
from gantext.paths import Paths

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PARAMS = {"seed": 0, "tracking": {"enabled": True, "experiment": "lin"},
          "adversarial": {"loss": "wgan-gp"}}


def _write(root, rel, data):
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, bytes):
        p.write_bytes(data)
    elif isinstance(data, str):
        p.write_text(data)
    else:
        p.write_text(json.dumps(data))


@pytest.fixture
def ws(tmp_path, monkeypatch):
    for key in ("DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    root = tmp_path / "ws"
    _write(root, "data/raw/a.txt", "one line\ntwo line\n")
    _write(root, "data/interim/train.txt", "one line\n")
    _write(root, "data/interim/test.txt", "two line\n")
    _write(root, "data/processed/vocab.json", {"level": "word", "itos": ["<pad>", "a"],
                                               "hash": "ab" * 32})
    _write(root, "models/pretrain/generator.pt", b"mle-weights")
    _write(root, "models/adversarial/generator.pt", b"gan-weights")
    _write(root, "models/adversarial/discriminator.pt", b"d-weights")
    _write(root, "metrics/ingest.json", {
        "source": "files", "lines_read": 2,
        "inputs": [{"path": "data/raw/a.txt", "role": "paths", "lines": 2, "kept": 2,
                    "rejected": 0, "md5": provenance.dvc_md5(root / "data/raw/a.txt")}],
        "kept": {"train": 1, "valid": 0, "test": 1, "total": 2},
        "rejected": {"too_long": 0, "empty": 0, "total": 0}})
    _write(root, "metrics/pretrain.json", {"best_epoch": 3, "test_nll": 1.25})
    _write(root, "metrics/adversarial.json", {"final_g_loss": 0.5})
    _write(root, "metrics/evaluate.json", {
        "mle": {"bleu2": 0.9, "sbleu2": 0.8, "fid": 1.5, "nll": 2.0},
        "gan": {"bleu2": 0.95, "sbleu2": 0.85, "fid": 1.4, "nll": 2.1},
        "real": {"bleu2": 0.97}, "delta": {"bleu2": 0.05}})
    params = {"seed": 0, "ingest": {"source": "files", "data_dir": "data/raw"},
              "tokenize": {"level": "word", "max_len": 8},
              "pretrain": {"epochs": 2, "lr": 0.01},
              "model": {"generator": {"hidden_dim": 16}},
              "adversarial": {"loss": "wgan-gp", "steps": 5, "wgan_gp": {"gp_lambda": 10.0},
                              "bce": {"beta_max": 100.0}, "seqgan": {"n_rollouts": 8}},
              "evaluate": {"num_samples": 10}}

    def entry(deps, outs, sections):
        return {"cmd": "x",
                "deps": [{"path": d, "md5": provenance.dvc_md5(root / d, root)} for d in deps],
                "params": {"params.yaml": {k: params[k] for k in sections}},
                "outs": [{"path": o, "md5": provenance.dvc_md5(root / o, root)} for o in outs]}

    lock = {"schema": "2.0", "stages": {
        "ingest": entry(["data/raw"], ["data/interim", "metrics/ingest.json"],
                        ["seed", "ingest"]),
        "tokenize": entry(["data/interim"], ["data/processed"], ["tokenize"]),
        "pretrain": entry(["data/processed"], ["models/pretrain", "metrics/pretrain.json"],
                          ["seed", "model", "pretrain"]),
        "adversarial": entry(["models/pretrain"], ["models/adversarial",
                                                   "metrics/adversarial.json"],
                             ["seed", "model", "adversarial"]),
    }}
    _write(root, "dvc.lock", yaml.safe_dump(lock))
    _write(root, "dvc.yaml", yaml.safe_dump({"stages": {"evaluate": {
        "cmd": "x", "deps": ["models/adversarial"], "params": ["seed", "evaluate"],
        "outs": ["metrics/lineage.md"], "metrics": [{"metrics/evaluate.json": {"cache": False}}]}}}))
    return root, lock


def test_report_lists_lock_md5s_with_workspace_checks(ws):
    root, lock = ws
    text = lineage.build_lineage(Paths(root), query_mlflow=False)
    for stage in lock["stages"].values():
        for item in stage["outs"] + stage["deps"]:
            assert f"`{item['md5']}`" in text
    # files inside directory outs, proven by the .dir hash
    for rel in ("models/pretrain/generator.pt", "models/adversarial/discriminator.pt"):
        assert f"`{rel}` | `{provenance.dvc_md5(root / rel)}` | ok (in the .dir above)" in text
    # raw input: md5 + line count, checked against the data_dir dep
    assert f"| `data/raw/a.txt` | paths | `{provenance.dvc_md5(root / 'data/raw/a.txt')}` | 2 |" in text
    assert "ok (in the data_dir .dir)" in text
    assert "rejected **0**" in text
    assert "hash `" + "ab" * 32 + "`" in text and "2 tokens" in text
    assert "loss: **wgan-gp**" in text
    assert "adversarial.wgan_gp.gp_lambda=10" in text
    assert "seqgan.n_rollouts" not in text and "bce.beta_max" not in text  # other losses' knobs
    assert "`pretrain.lr=0.01`" in text and "`test_nll=1.25`" in text
    assert "CHANGED" not in text and "MISSING" not in text
    assert "## 5. evaluate: evaluation\n\nnot run yet" in text
    assert "not queried (--no-mlflow)" in text


def test_changed_workspace_is_flagged(ws):
    root, _ = ws
    (root / "models" / "pretrain" / "generator.pt").write_bytes(b"tampered")
    text = lineage.build_lineage(Paths(root), query_mlflow=False)
    assert "| `models/pretrain` |" in text and "CHANGED since dvc.lock" in text


def test_running_evaluate_stage(ws):
    root, _ = ws
    params = params_from_dict({**PARAMS, "tracking": {"enabled": False}})
    text = lineage.build_lineage(Paths(root), params, running_stage="evaluate",
                                 running_run_id="abc")
    sec = text.split("## 5. evaluate")[1]
    assert "running now" in sec
    assert f"`{provenance.dvc_md5(root / 'metrics/evaluate.json')}` | computed now" in sec
    assert "metrics/lineage.md" not in sec  # the report does not hash itself
    assert "| bleu2 | 0.9 | 0.95 | 0.97 | 0.05 |" in sec
    assert "| fid | 1.5 | 1.4 |" in sec
    assert "`evaluate.num_samples=auto`" in sec  # from the stage's params, not a lock entry
    assert "MLflow run: `abc`" in sec
    assert "tracking disabled" in text.split("## 5.")[0]


def test_no_lock_is_a_clear_error(tmp_path):
    from gantext.errors import DataError

    with pytest.raises(DataError, match="dvc repro"):
        lineage.build_lineage(Paths(tmp_path), query_mlflow=False)


def test_mlflow_runs_found_by_out_md5_tags(ws, monkeypatch):
    """The run whose dvc.out.* tags equal the lock's md5s is the one reported (also when an
    earlier run with other outputs exists, and for a stage that later came from the run-cache)."""
    root, lock = ws
    monkeypatch.setenv("GANTEXT_PIPELINE_ID", "pipe-1")
    params = params_from_dict(PARAMS)
    paths = Paths(root)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"pretrain": {
        "cmd": "x", "deps": ["data/processed"], "params": ["seed", "pretrain"],
        "outs": ["models/pretrain", {"metrics/pretrain.json": {"cache": False}}]}}}))
    gen = root / "models/pretrain/generator.pt"
    good = gen.read_bytes()
    gen.write_bytes(b"older weights")
    with tracking.stage_run("pretrain", params, paths) as old:
        pass
    gen.write_bytes(good)
    with tracking.stage_run("pretrain", params, paths) as new:
        pass
    assert old.run_id and new.run_id
    text = lineage.build_lineage(paths, params)
    sec = text.split("## 3. pretrain")[1].split("## 4.")[0]
    assert f"MLflow run: `{new.run_id}` (pipeline `pipe-1`)" in sec
    assert old.run_id not in text
    assert "MLflow run: none found" in text.split("## 4.")[1]


def test_cli_lineage_prints_and_writes(ws, monkeypatch, capsys):
    from gantext import cli

    root, lock = ws
    if "lineage" not in cli.COMMANDS:
        pytest.skip("cli lineage not registered yet")
    shutil.copy(root / "dvc.lock", root / "dvc.lock.bak")
    monkeypatch.chdir(root)
    (root / "params.yaml").write_text(yaml.safe_dump({"tracking": {"enabled": False}}))
    assert cli.main(["lineage", "--no-mlflow", "-o", "out/lineage.md"]) == 0
    out = capsys.readouterr().out
    # the terminal gets plain text: no Markdown marks, no &nbsp;, at most 120 columns
    assert out.startswith("Lineage of the current model\n====")
    assert "&nbsp;" not in out and "`" not in out and "**" not in out and "| " not in out
    assert max(len(line) for line in out.splitlines()) <= 120
    assert "models/pretrain" in out and "+ 1 file(s) inside" in out  # a dir's files summarised
    # the file keeps the Markdown, every file of a directory listed
    md = (root / "out" / "lineage.md").read_text()
    assert md.startswith("# Lineage of the current model") and "&nbsp;&nbsp;`models/" in md
    assert cli.main(["lineage", "--no-mlflow", "--md"]) == 0
    assert capsys.readouterr().out == md
    (root / "dvc.lock").unlink()
    assert cli.main(["lineage", "--no-mlflow"]) == 1
    assert "dvc repro" in capsys.readouterr().err


def test_header_marks_params_dirty_when_params_yaml_is_uncommitted(ws):
    import subprocess

    root, _ = ws
    _write(root, "params.yaml", "seed: 0\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=root, check=True)
    head = lineage.build_lineage(Paths(root), query_mlflow=False).splitlines()[2]
    assert "code clean" in head and "params clean" in head, head
    _write(root, "params.yaml", "seed: 1\n")
    head = lineage.build_lineage(Paths(root), query_mlflow=False).splitlines()[2]
    assert "code clean" in head and "**params dirty**" in head, head


def test_lineage_of_a_dvc_experiment_reads_its_commit(ws, monkeypatch, capsys):
    """--exp NAME: the experiment's dvc.lock and metrics (git show), outputs checked against
    the DVC cache, not the workspace."""
    import subprocess

    from gantext import cli

    root, lock = ws
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=root, check=True)
    # the experiment: another pretrain metric and model, committed on a DVC experiment ref
    _write(root, "metrics/pretrain.json", {"best_epoch": 7, "test_nll": 1.125})
    lock["stages"]["pretrain"]["outs"][0]["md5"] = "0123456789abcdef0123456789abcdef.dir"
    _write(root, "dvc.lock", yaml.safe_dump(lock))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-qm", "exp"], cwd=root, check=True)
    exp = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                         text=True).stdout.strip()
    subprocess.run(["git", "reset", "-q", "--hard", "HEAD~1"], cwd=root, check=True)
    base = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                          text=True).stdout.strip()
    subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/my-exp", exp],
                   cwd=root, check=True)
    cache = root / ".dvc/cache/files/md5/01/23456789abcdef0123456789abcdef.dir"
    cache.parent.mkdir(parents=True)
    cache.write_text("[]")
    monkeypatch.chdir(root)
    assert cli.main(["lineage", "--no-mlflow", "--exp", "my-exp", "--md"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# Lineage of DVC experiment my-exp")
    assert f"git commit `{exp}`" in text and "DVC experiment `my-exp`" in text
    pre = text.split("## 3. pretrain")[1].split("## 4.")[0]
    assert "`test_nll=1.125`" in pre  # the experiment's metrics, not the workspace's 1.25
    assert "`0123456789abcdef0123456789abcdef.dir` | in DVC cache |" in pre
    assert "not in the local DVC cache" in text  # the other outputs were never cached here
    assert cli.main(["lineage", "--no-mlflow", "--exp", "nope"]) == 1
    err = capsys.readouterr().err
    assert "no DVC experiment named 'nope'" in err and "my-exp" in err


def test_terminal_lineage_needs_no_torch(ws):
    """`gantext lineage` reads params.yaml's tracking section itself: importing gantext.config
    imports torch for the generator registry, most of the 6 s the command took on a busy
    machine (its wall time is not asserted; the import is)."""
    import subprocess
    import sys

    root, _ = ws
    (root / "params.yaml").write_text("tracking:\n  enabled: false\n")
    code = ("import sys\nfrom gantext.cli import main\nrc = main(['lineage'])\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', rc, file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True,
                          text=True)
    assert done.stderr.strip().endswith("NO-TORCH 0"), done.stderr
    assert "tracking disabled" in done.stdout


def test_tracking_defaults_agree_with_the_config():
    from gantext.config import TrackingConfig

    assert tracking.TRACKING_DEFAULTS == {"enabled": TrackingConfig().enabled,
                                          "experiment": TrackingConfig().experiment}


def test_sqlite_lookup_equals_mlflow_search(ws, monkeypatch):
    """runs_with_tags reads the SQLite store with sqlite3; MLflow's own search agrees."""
    root, _ = ws
    monkeypatch.setenv("GANTEXT_PIPELINE_ID", "pipe-2")
    params = params_from_dict(PARAMS)
    paths = Paths(root)
    (root / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"pretrain": {
        "cmd": "x", "deps": ["data/processed"], "params": ["seed"],
        "outs": ["models/pretrain"]}}}))
    with tracking.stage_run("pretrain", params, paths) as run:
        pass
    md5 = provenance.dvc_md5(root / "models/pretrain", root)
    query = {"gantext.stage": "pretrain", "dvc.out.models/pretrain": md5}
    fast = tracking.runs_with_tags(paths, params, [query, {"gantext.stage": "nope"}])
    slow = tracking.find_runs(paths, params, " and ".join(
        f"tags.{tracking.quote_key(k)} = '{v}'" for k, v in query.items()))
    assert [r["run_id"] for r in fast[0]] == [r["run_id"] for r in slow] == [run.run_id]
    assert fast[0][0]["tags"] == slow[0]["tags"] and fast[1] == []
