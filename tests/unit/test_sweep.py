"""gantext.sweep without a cluster: the grid, names, git-remote facts, refusals, the report,
and bench/coco/protocol.py run --engine ray (= gantext protocol run --recipe coco) handing the
protocol's experiments to it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gantext import cli
from gantext.sweep import (Experiment, Outcome, SweepError, SweepOptions, exit_code, expand,
                           parse_grid, report, run_sweep, split_values)
from gantext.sweep import cluster, local

ROOT = Path(__file__).resolve().parents[2]


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo with one commit and a bare remote `origin` (nothing pushed yet)."""
    r = tmp_path / "repo"
    r.mkdir()
    _git(r, "init", "-q", "-b", "main")
    (r / "a.txt").write_text("a\n")
    _git(r, "add", "a.txt")
    _git(r, "commit", "-q", "-m", "one")
    _git(tmp_path, "init", "-q", "--bare", "-b", "main", str(tmp_path / "remote.git"))
    _git(r, "remote", "add", "origin", str(tmp_path / "remote.git"))
    return r


# ----------------------------------------------------------------------------- the grid
def test_values_split_on_top_level_commas_only():
    assert split_values("bce,wgan-gp") == ["bce", "wgan-gp"]
    assert split_values("[2,3],[4,5]") == ["[2,3]", "[4,5]"]
    assert split_values("{a: 1, b: 2}") == ["{a: 1, b: 2}"]


@pytest.mark.parametrize("bad, says", [("seed", "KEY=VALUE"), ("=1", "KEY=VALUE"),
                                       ("seed=0,", "empty value")])
def test_bad_grid_items_name_the_flag(bad, says):
    with pytest.raises(SweepError, match=says):
        parse_grid([bad])


def test_a_key_given_twice_is_refused():
    with pytest.raises(SweepError, match="given twice"):
        parse_grid(["seed=0", "seed=1"])


def test_expand_is_the_product_named_by_the_varied_keys():
    grid = parse_grid(["adversarial.loss=bce,wgan-gp", "seed=0,1", "pretrain.epochs=3"])
    exps = expand(grid, "g", ["evaluate"])
    assert [e.name for e in exps] == ["g-lossbce-seed0", "g-lossbce-seed1",
                                      "g-losswgan-gp-seed0", "g-losswgan-gp-seed1"]
    assert exps[1].overrides == (("adversarial.loss", "bce"), ("seed", "1"),
                                 ("pretrain.epochs", "3"))
    assert exps[1].set_flags() == ["-S", "adversarial.loss=bce", "-S", "seed=1",
                                   "-S", "pretrain.epochs=3"]
    assert all(e.targets == ("evaluate",) for e in exps)
    # a single point: the prefix alone; characters git refuses in a ref become '_'
    assert [e.name for e in expand(parse_grid(["seed=3"]), "one")] == ["one"]
    names = [e.name for e in expand(parse_grid(["model.kernel_sizes=[2,3],[4]"]), "k")]
    assert names == ["k-kernelsizes_2_3_", "k-kernelsizes_4_"]


def test_colliding_names_and_bad_prefixes_are_refused():
    with pytest.raises(SweepError, match="both get the name"):
        expand(parse_grid(["a.x=[1],(1)"]), "g")  # both g-x_1_
    with pytest.raises(SweepError, match="prefix"):
        expand(parse_grid(["seed=0"]), "bad name")


def test_duplicate_experiment_names_and_unknown_engines_are_refused(tmp_path):
    e = Experiment("x")
    with pytest.raises(SweepError, match="used twice"):
        run_sweep(tmp_path, [e, e], SweepOptions())
    with pytest.raises(SweepError, match="--engine 'slurm'"):
        run_sweep(tmp_path, [e], SweepOptions(engine="slurm"))


def test_report_names_the_failed_and_sets_the_exit_code():
    ok = [Outcome("a", "done", 1), Outcome("b", "skipped", 0)]
    bad = ok + [Outcome("c", "failed", 3, "boom", ["first", "last error text"])]
    assert exit_code(ok) == 0 and exit_code(bad) == 1
    text = report(bad)
    assert "FAILED: c" in text and "last error text" in text and "first" not in text


def test_cli_turns_a_bad_grid_into_one_error_line(capsys):
    assert cli.main(["sweep", "-S", "seed"]) == 1
    assert "error: -S 'seed'" in capsys.readouterr().err


def test_queue_status_rows_are_parsed():
    text = ("Task     Name          Created    Status\n"
            "1a2b3c4  g-lossbce     05:10 AM   Running\n"
            "5d6e7f8  g-losswgan    Nov 30, 2026  Failed\n"
            "9a8b7c6  g-x           05:11 AM   Queued\n\n"
            "Worker status: 1 active, 0 idle\n")
    assert local.parse_queue_status(text) == {"g-lossbce": "Running", "g-losswgan": "Failed",
                                              "g-x": "Queued"}


# ----------------------------------------------------------------------------- the git remote
def test_remote_experiments_of_this_baseline_only(repo, tmp_path):
    head = _git(repo, "rev-parse", "HEAD")
    other = "f" * 40
    for base, name in ((head, "mine"), (head, "mine-too"), (other, "theirs")):
        _git(repo, "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/{name}", head)
    _git(repo, "update-ref", "refs/exps/celery/stash", head)  # DVC's own bookkeeping refs
    _git(repo, "push", "-q", "origin", "refs/exps/*:refs/exps/*")
    assert cluster.remote_experiments(str(tmp_path / "remote.git"), head) == {"mine", "mine-too"}


def test_baseline_must_be_on_the_git_remote(repo, tmp_path):
    url = cluster.remote_url(repo, "origin")
    assert url == str((tmp_path / "remote.git").resolve())
    head = _git(repo, "rev-parse", "HEAD")
    with pytest.raises(SweepError, match="push it first"):
        cluster.check_baseline_on_remote(repo, url, head)
    _git(repo, "push", "-q", "origin", "main")
    cluster.check_baseline_on_remote(repo, url, head)  # the tip of main
    (repo / "a.txt").write_text("b\n")
    _git(repo, "commit", "-q", "-am", "two")
    _git(repo, "push", "-q", "origin", "main")
    cluster.check_baseline_on_remote(repo, url, head)  # an ancestor of the tip


def test_remote_url_makes_local_paths_absolute(repo, tmp_path):
    assert cluster.remote_url(repo, "../remote.git") == str((tmp_path / "remote.git").resolve())
    assert cluster.remote_url(repo, "ssh://host/x.git") == "ssh://host/x.git"
    assert cluster.remote_url(repo, "git@host:x.git") == "git@host:x.git"


def test_ray_engine_refuses_without_git_remote_or_dvc_remote(repo, monkeypatch):
    with pytest.raises(SweepError, match="--git-remote"):
        run_sweep(repo, [Experiment("x")], SweepOptions(engine="ray"))
    _git(repo, "push", "-q", "origin", "main")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    subprocess.run(["dvc", "init", "-q"], cwd=repo, check=True)
    with pytest.raises(SweepError, match="no default DVC remote"):
        run_sweep(repo, [Experiment("x")], SweepOptions(engine="ray", git_remote="origin"))


def test_tasks_get_the_tracking_server_and_a_warning_when_none(monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_RUN_ID", "must-not-travel")
    assert dict(cluster._task_env(tmp_path)).get("MLFLOW_RUN_ID") is None
    assert "MLFLOW_TRACKING_URI is not set" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # discard port: refused
    env = dict(cluster._task_env(tmp_path))
    assert env["MLFLOW_TRACKING_URI"] == "http://127.0.0.1:9"
    assert "unreachable" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the COCO protocol
def test_protocol_run_with_engine_ray_hands_over_its_experiments(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "bench" / "coco"))
    import protocol

    coco = tmp_path / "coco"
    coco.mkdir()
    for f in ("train.txt", "test.txt"):
        (coco / f).write_text("a man rides a horse .\n", encoding="utf-8")
    seen = {}

    def spy(root, experiments, options):
        seen.update(root=root, experiments=experiments, options=options)
        return [Outcome(e.name, "done", 1) for e in experiments]

    import gantext.protocol.run as prun
    from gantext.protocol.recipe import fmt_value, overrides

    monkeypatch.setattr(prun, "run_sweep", spy)
    # superseding reads the Ray remote's experiments (git fetch): tested in test_protocol.py
    monkeypatch.setattr(prun, "supersede", lambda *a, **k: [])
    monkeypatch.chdir(tmp_path)  # main() changes directory; restored after the test
    with pytest.raises(SystemExit) as exit_:
        protocol.main(["--coco", str(coco), "run", "--engine", "ray", "--git-remote", "origin",
                       "--cpus", "2", "--seeds", "0", "1", "--losses", "bce", "--no-report"])
    assert exit_.value.code == 0
    assert seen["root"] == protocol.ROOT and seen["options"].engine == "ray"
    assert seen["options"].num_cpus == 2 and seen["options"].git_remote == "origin"
    recipe = protocol.load_recipe(coco)
    expected = [(f"coco-s{s}-bce", [a for k, v in overrides(recipe, s, "bce").items()
                                    for a in ("-S", f"{k}={fmt_value(v)}")]) for s in (0, 1)]
    assert [(e.name, e.set_flags()) for e in seen["experiments"]] == expected


def test_task_commands_run_the_clones_code_with_the_drivers_tracking(tmp_path):
    spec = cluster.TaskSpec("url", "0" * 40, None, (("MLFLOW_TRACKING_URI", "http://h:5000"),),
                            ("n", "e"), None, hide_gpus=True)
    base = {"PATH": "/usr/bin", "PYTHONPATH": "/elsewhere", "DVC_ROOT": "/other/repo",
            "GIT_DIR": "/other/.git", "MLFLOW_RUN_ID": "abc", "HOME": "/root",
            "CUDA_VISIBLE_DEVICES": "0,1"}
    env = cluster.command_env(spec, tmp_path / "clone", base)
    assert env["PYTHONPATH"] == str(tmp_path / "clone" / "src")
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["MLFLOW_TRACKING_URI"] == "http://h:5000" and env["HOME"] == "/root"
    assert not {"DVC_ROOT", "GIT_DIR", "MLFLOW_RUN_ID"} & set(env)
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # --gpus 0: device auto stays on CPU
    with_gpu = cluster.command_env(
        cluster.TaskSpec("url", "0" * 40, None, (), ("n", "e"), None, hide_gpus=False),
        tmp_path / "clone", {**base, "CUDA_VISIBLE_DEVICES": "3"})  # what Ray gave the task
    assert with_gpu["CUDA_VISIBLE_DEVICES"] == "3"


def test_orphaned_runs_are_the_running_ones_whose_process_is_gone(tmp_path):
    """A worker killed with its session leaves its task 'Running' for ever: the sweep must see
    that its process is gone (and only then) to queue it again instead of waiting without end."""
    import json

    from gantext.sweep.local import orphaned_runs

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / ".dvc" / "tmp" / "exps" / "run"
    for rev, name, pid in (("a1", "alive-exp", os.getpid()), ("b2", "dead-exp", dead.pid),
                           ("c3", "no-pid-exp", None)):
        (run / rev).mkdir(parents=True)
        (run / rev / f"{rev}.run").write_text(json.dumps({"name": name, "status": 2}))
        if pid is not None:
            (run / rev / f"{rev}.pid").write_text(f"{pid}\n")
    assert orphaned_runs(tmp_path) == {"dead-exp"}
    assert orphaned_runs(tmp_path / "elsewhere") == set()
