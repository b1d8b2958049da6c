"""gantext.tracking: where runs go, what a stage run records, and that tracking never blocks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gantext import provenance, tracking
from gantext.config import AdversarialConfig, params_from_dict
from gantext.paths import Paths

DVC = str(Path(sys.executable).with_name("dvc"))
# sqlalchemy deprecation chatter from inside mlflow's store
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def empty_db(tmp_path_factory):
    """An MLflow SQLite store with its tables created once (creating one costs seconds)."""
    import mlflow

    path = tmp_path_factory.mktemp("db") / "mlflow.db"
    mlflow.MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def clean_env(monkeypatch):
    """No DVC / MLflow variables leaking from an outer `dvc repro` or the developer's shell."""
    for key in ("DVC_ROOT", "DVC_EXP_NAME", "DVC_EXP_BASELINE_REV", "DVC_STAGE",
                "MLFLOW_TRACKING_URI", provenance.ENV_PIPELINE_ID):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


@pytest.fixture
def repo(tmp_path, clean_env, empty_db):
    """A minimal repo: dvc.yaml with one stage, a dep file, an out directory, an MLflow store."""
    root = tmp_path / "repo"
    (root / "src" / "__pycache__").mkdir(parents=True)
    shutil.copy(empty_db, root / "mlflow.db")
    (root / "src" / "a.py").write_text("x = 1\n")
    (root / "src" / "__pycache__" / "a.cpython.pyc").write_bytes(b"\0junk")
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  train:\n"
        "    cmd: python train.py\n"
        "    deps: [src]\n"
        "    params: [seed, pretrain]\n"
        "    outs: [out]\n"
        "    metrics:\n"
        "      - m.json:\n"
        "          cache: false\n")
    (root / ".dvcignore").write_text("# comment\n__pycache__/\n*.pyc\n")
    return root


def _params(**tracking_cfg):
    return params_from_dict({"tracking": {"enabled": True, "experiment": "t", **tracking_cfg},
                             "pretrain": {"epochs": 2}})


# ----------------------------------------------------------------------------- where runs go
def test_main_repo_root_prefers_dvc_root(tmp_path, clean_env):
    clean_env.setenv("DVC_ROOT", str(tmp_path))
    assert provenance.main_repo_root(tmp_path / "elsewhere") == tmp_path.resolve()


def test_main_repo_root_of_an_experiment_copy_path(tmp_path, clean_env):
    for sub in ("tmpab12", "standalone/tmpab12"):
        copy = tmp_path / "main" / ".dvc" / "tmp" / "exps" / sub
        copy.mkdir(parents=True)
        assert provenance.main_repo_root(copy) == (tmp_path / "main").resolve()


def test_main_repo_root_git_and_plain(tmp_path, clean_env):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert provenance.main_repo_root(plain) == plain.resolve()
    repo = tmp_path / "g"
    (repo / "sub").mkdir(parents=True)
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    assert provenance.main_repo_root(repo / "sub") == repo.resolve()


def test_tracking_uri_default_is_absolute_sqlite_at_main_root(tmp_path, clean_env):
    uri = tracking.tracking_uri(Paths(tmp_path))
    assert uri == f"sqlite:///{tmp_path.resolve().as_posix()}/mlflow.db"
    assert tracking.artifact_location(Paths(tmp_path)) == (tmp_path.resolve() / "mlartifacts").as_uri()
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://mlflow.example:5000")
    assert tracking.tracking_uri(Paths(tmp_path)) == "http://mlflow.example:5000"
    assert tracking.artifact_location(Paths(tmp_path)) is None


def test_probe():
    assert tracking.probe("sqlite:////tmp/x.db") is None
    assert "cannot connect" in tracking.probe("http://127.0.0.1:9")


# ----------------------------------------------------------------------------- md5 as DVC does
def test_ignore_patterns():
    pats = ["__pycache__/", "*.pyc", "/data/tmp*"]
    assert provenance._ignored(("src", "__pycache__"), True, pats)
    assert not provenance._ignored(("src", "__pycache__"), False, pats)
    assert provenance._ignored(("src", "a.pyc"), False, pats)
    assert provenance._ignored(("data", "tmp1"), False, pats)
    assert not provenance._ignored(("x", "data", "tmp1"), False, pats)
    assert not provenance._ignored(("src", "a.py"), False, pats)


def test_dvc_md5_equals_dvc_add(repo):
    """File and directory hashes (with an ignored __pycache__) equal what `dvc add` records."""
    (repo / "mlflow.db").unlink()
    (repo / "f.txt").write_text("hello\n")
    (repo / "src" / "sub").mkdir()
    (repo / "src" / "sub" / "b.bin").write_bytes(bytes(range(256)))
    (repo / "dvc.yaml").unlink()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "init", "-q"], cwd=repo, check=True)
    subprocess.run([DVC, "add", "-q", "src", "f.txt"], cwd=repo, check=True)
    import yaml

    for name in ("src", "f.txt"):
        recorded = yaml.safe_load((repo / f"{name}.dvc").read_text())["outs"][0]["md5"]
        assert provenance.dvc_md5(repo / name, repo) == recorded
    assert provenance.dvc_md5(repo / "missing", repo) is None


# ----------------------------------------------------------------------------- grouping
def test_pipeline_id_sources(clean_env):
    pid, how = provenance.pipeline_id()
    assert how in ("standalone", "dvc-process")  # pytest may itself run under `dvc repro`
    clean_env.setenv("DVC_EXP_NAME", "curly-pout")
    clean_env.setenv("DVC_EXP_BASELINE_REV", "0123456789abcdef")
    assert provenance.pipeline_id() == ("curly-pout@0123456", "dvc-exp")
    clean_env.setenv(provenance.ENV_PIPELINE_ID, "mine")
    assert provenance.pipeline_id() == ("mine", "env")


def test_pipeline_id_shared_by_children_of_one_dvc_process(tmp_path, clean_env):
    """Two processes started by the same (fake) `dvc` parent get the same id; a new parent, a new one."""
    fake = tmp_path / "dvc"
    code = ("import subprocess, sys\n"
            "for _ in range(2):\n"
            "    subprocess.run([sys.executable, '-c', 'from gantext.provenance import pipeline_id; "
            "print(*pipeline_id())'], check=True)\n")
    fake.write_text(code)
    outs = [subprocess.run([sys.executable, str(fake), "repro"], capture_output=True, text=True,
                           check=True).stdout.split("\n")[:2] for _ in range(2)]
    assert outs[0][0] == outs[0][1] and outs[0][0].endswith("dvc-process")
    assert outs[1][0] == outs[1][1] and outs[1][0] != outs[0][0]


# ----------------------------------------------------------------------------- stage runs
def test_stage_run_records_params_metrics_tags_artifacts(repo, clean_env):
    clean_env.setenv("DVC_EXP_NAME", "happy-exp")
    clean_env.setenv("DVC_EXP_BASELINE_REV", "abcdef0123")
    clean_env.setenv("DVC_ROOT", str(repo))
    params = _params()
    paths = Paths(repo)
    with tracking.stage_run("train", params, paths) as run:
        assert run.active and run.run_id
        for epoch in (1, 2):
            run.log_metrics({"valid_nll": 3.0 - epoch, "nested": {"a": epoch}, "skip": "text"},
                            step=epoch)
        (repo / "out").mkdir()
        (repo / "out" / "model.pt").write_bytes(b"weights")
        (repo / "m.json").write_text(json.dumps({"nll": 1.0}))
        run.log_artifact(repo / "m.json")
        run.log_artifact(repo / "out")
        run.log_artifact(repo / "does-not-exist")
        run.set_tags({"custom": 1})

    found = tracking.find_runs(paths, params, "tags.`gantext.stage` = 'train'")
    assert isinstance(found, list) and len(found) == 1
    r = found[0]
    assert r["run_id"] == run.run_id and r["status"] == "FINISHED"
    # only the sections the stage declares in dvc.yaml, flattened
    assert r["params"]["seed"] == "0" and r["params"]["pretrain.epochs"] == "2"
    assert not any(k.startswith(("adversarial.", "tracking.")) for k in r["params"])
    assert r["metrics"]["valid_nll"] == 1.0 and r["metrics"]["nested.a"] == 2.0
    assert "skip" not in r["metrics"]
    t = r["tags"]
    assert t["gantext.stage"] == "train" and t["custom"] == "1"
    assert t["gantext.dvc_exp_name"] == "happy-exp"
    assert t["gantext.pipeline_id"] == "happy-exp@abcdef0" == run.pipeline_id
    assert t["dvc.dep.src"] == provenance.dvc_md5(repo / "src", repo)
    assert t["dvc.out.out"] == provenance.dvc_md5(repo / "out", repo)
    assert t["dvc.out.m.json"] == provenance.dvc_md5(repo / "m.json")
    assert "gantext.git_commit" not in t  # not a git repo

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(paths))
    steps = [m.step for m in client.get_metric_history(run.run_id, "valid_nll")]
    assert steps == [1, 2]
    arts = {a.path for a in client.list_artifacts(run.run_id)}
    assert arts == {"m.json", "out"}
    # the default store lives at the repo root, artifacts beside it (not in the cwd)
    assert (repo / "mlflow.db").is_file()
    assert (repo / "mlartifacts").is_dir() and not (Path.cwd() / "mlruns" / "t").exists()


def test_stage_run_git_tags(repo, clean_env):
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "src", "dvc.yaml"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   cwd=repo, check=True)
    assert provenance.git_dirty(repo) is False
    (repo / "src" / "a.py").write_text("x = 2\n")
    assert provenance.git_dirty(repo) is True
    with tracking.stage_run("train", _params(), Paths(repo)) as run:
        pass
    r = tracking.find_runs(Paths(repo), _params(), f"attributes.run_id = '{run.run_id}'")[0]
    assert r["tags"]["gantext.git_commit"] == provenance.git_commit(repo)
    assert r["tags"]["mlflow.source.git.commit"] == provenance.git_commit(repo)
    assert r["tags"]["gantext.git_dirty"] == "true"


def test_failing_stage_marks_run_failed_and_reraises(repo):
    with pytest.raises(ValueError, match="boom"):
        with tracking.stage_run("train", _params(), Paths(repo)) as run:
            raise ValueError("boom")
    r = tracking.find_runs(Paths(repo), _params(), f"attributes.run_id = '{run.run_id}'")[0]
    assert r["status"] == "FAILED"
    assert not any(k.startswith("dvc.out.") for k in r["tags"])


def test_disabled_tracking_is_a_no_op(repo, capsys):
    params = _params(enabled=False)
    with tracking.stage_run("train", params, Paths(repo)) as run:
        run.log_metrics({"a": 1.0}, step=1)
        run.log_artifact(repo / "dvc.yaml")
        run.set_tags({"x": "y"})
    assert not run.active and run.run_id is None
    assert capsys.readouterr().err == ""
    assert "disabled" in tracking.find_runs(Paths(repo), params, "")


def test_unreachable_server_warns_once_and_the_stage_completes(repo, clean_env, capsys):
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    done = []
    with tracking.stage_run("train", _params(), Paths(repo)) as run:
        for step in range(5):
            run.log_metrics({"a": float(step)}, step=step)
        run.log_artifact(repo / "dvc.yaml")
        done.append(True)
    err = capsys.readouterr().err
    assert done and run.run_id is None
    assert err.count("warning: MLflow tracking unavailable") == 1, err
    assert len(err.strip().splitlines()) == 1
    assert "127.0.0.1:9" in err


def test_failure_mid_run_warns_once(repo, capsys):
    with tracking.stage_run("train", _params(), Paths(repo)) as run:
        run.log_metrics({"a": 1.0}, step=0)
        run.set_tags({"k" * 300: "too long a key"})  # MLflow rejects it: the one warning
        run.log_metrics({"a": 2.0}, step=1)  # silently skipped from now on
        run.set_tags({"k" * 300: "again"})
    err = capsys.readouterr().err
    assert err.count("warning: MLflow tracking unavailable") == 1, err
    assert not run.active


def test_tracking_is_the_only_module_importing_mlflow():
    src = Path(tracking.__file__).parent
    offenders = [p for p in src.rglob("*.py") if p.name != "tracking.py"
                 and any(line.strip().startswith(("import mlflow", "from mlflow"))
                         for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []


def test_importing_tracking_does_not_import_mlflow():
    code = "import sys, gantext.tracking; print('mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ----------------------------------------------------------------------------- unusable stores
class SilentServer:
    """A real TCP server on 127.0.0.1 that accepts connections and never answers; counts them."""

    def __init__(self) -> None:
        import socket
        import threading

        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.url = f"http://127.0.0.1:{self.srv.getsockname()[1]}"
        self.held: list = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.srv.settimeout(0.2)
        while not self.stop.is_set():
            try:
                self.held.append(self.srv.accept()[0])
            except OSError:
                pass

    def connections(self) -> int:
        """Connections made so far (stops accepting, then takes any still in the backlog)."""
        self.stop.set()
        self.thread.join()
        self.srv.settimeout(0.0)
        while True:
            try:
                self.held.append(self.srv.accept()[0])
            except OSError:
                return len(self.held)

    def close(self) -> None:
        self.connections()
        for c in self.held:
            c.close()
        self.srv.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def _stage(params, paths):
    with tracking.stage_run("train", params, paths) as run:
        for step in range(3):
            run.log_metrics({"a": float(step)}, step=step)
        run.log_artifact(paths.root / "dvc.yaml")
    return run


def test_server_that_never_answers_costs_one_warning_and_one_bounded_probe(
        repo, clean_env, capsys, silent_server, monkeypatch):
    # what is waited for, counted instead of timed: one probe with its timeout, and no
    # connection after it (before the probe, MLflow's client retried for minutes)
    timeouts = []
    probe = tracking.probe
    monkeypatch.setattr(tracking, "probe", lambda uri, timeout=tracking.PROBE_TIMEOUT_S:
                        timeouts.append(timeout) or probe(uri, timeout))
    clean_env.setenv("MLFLOW_TRACKING_URI", silent_server.url)
    run = _stage(_params(), Paths(repo))
    err = capsys.readouterr().err
    assert run.run_id is None and not run.active
    assert err.count("warning: MLflow tracking unavailable") == 1, err
    assert "did not answer" in err
    assert timeouts == [tracking.PROBE_TIMEOUT_S] and tracking.PROBE_TIMEOUT_S <= 5.0
    assert silent_server.connections() == 1  # the probe's; nothing tried the server after it


_RO_SCRIPT = """
import sqlite3, sqlite3.dbapi2, sys
opened = []
connect = sqlite3.dbapi2.connect  # what SQLAlchemy (MLflow's store) opens a database with
sqlite3.connect = sqlite3.dbapi2.connect = lambda *a, **k: opened.append(a[:1]) or connect(*a, **k)
from gantext import tracking
from gantext.config import params_from_dict
from gantext.paths import Paths
from pathlib import Path
params = params_from_dict({"tracking": {"enabled": True, "experiment": "t"}})
with tracking.stage_run("train", params, Paths(Path(sys.argv[1]))) as run:
    run.log_metrics({"a": 1.0}, step=1)
print(len(opened), run.run_id)
"""


def test_read_only_sqlite_store_costs_one_warning_and_no_connection(repo, clean_env, empty_db,
                                                                   tmp_path):
    """A store the stage cannot write (as root, the stage runs without CAP_DAC_OVERRIDE so file
    modes bind it as they bind any user). Before the probe, MLflow's engine retried for minutes;
    counted instead of timed: the database is never opened."""
    import stat

    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: file modes cannot make a store read-only")
        prefix = [shutil.which("setpriv"), "--bounding-set=-dac_override,-dac_read_search"]
    store = tmp_path / "ro-store"
    store.mkdir()
    shutil.copy(empty_db, store / "mlflow.db")
    (store / "mlflow.db").chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    store.chmod(0o555)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{store / 'mlflow.db'}",
           "PYTHONPATH": str(Path(tracking.__file__).parents[1])}
    try:
        out = subprocess.run([*prefix, sys.executable, "-c", _RO_SCRIPT, str(repo)], env=env,
                             capture_output=True, text=True, timeout=300)
    finally:
        store.chmod(0o755)
    assert out.returncode == 0, out.stderr
    opened, run_id = out.stdout.split()
    assert run_id == "None" and opened == "0", out
    assert out.stderr.count("warning: MLflow tracking unavailable") == 1, out.stderr
    assert "read-only" in out.stderr


def test_probe_sqlite(tmp_path):
    assert tracking.probe(f"sqlite:///{tmp_path}/new.db") is None
    assert "does not exist" in tracking.probe(f"sqlite:///{tmp_path}/no/such/dir/x.db")


# ----------------------------------------------------------------------------- names, kind, dirt
def test_run_name_tags_and_experiment_kind(repo, clean_env):
    import mlflow

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    (repo / "params.yaml").write_text("seed: 0\n")
    subprocess.run(["git", "add", "src", "dvc.yaml", "params.yaml"], cwd=repo, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
                   cwd=repo, check=True)
    short = provenance.git_commit(repo)[:7]
    with tracking.stage_run("train", _params(), Paths(repo)) as clean:
        pass
    (repo / "params.yaml").write_text("seed: 1\n")  # edited, not committed
    clean_env.setenv("DVC_EXP_NAME", "my-exp")
    with tracking.stage_run("train", _params(), Paths(repo)) as dirty:
        pass
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(Paths(repo)))
    r0, r1 = client.get_run(clean.run_id), client.get_run(dirty.run_id)
    assert r0.info.run_name == f"train · {short}"
    assert r0.data.tags["gantext.params_dirty"] == "false"
    assert r1.info.run_name == f"train · my-exp · {short}-dirty"
    assert r1.data.tags["gantext.params_dirty"] == "true"
    assert r1.data.tags["gantext.git_dirty"] == "false"  # the code is clean: only params moved
    exp = client.get_experiment_by_name("t")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"


def test_run_name_names_the_loss_for_stages_of_the_adversarial_model(clean_env):
    params = params_from_dict({"adversarial": {"loss": "seqgan"}})
    spec = {"params": ["seed", "model", "adversarial"], "deps": []}
    assert provenance.run_name("adversarial", spec, params, "0123456789", False) == \
        "adversarial · seqgan · 0123456"
    spec = {"params": ["evaluate"], "deps": ["models/adversarial"]}
    assert provenance.run_name("evaluate", spec, params, None, False) == "evaluate · seqgan"
    spec = {"params": ["pretrain"], "deps": ["models/pretrain"]}
    assert provenance.run_name("pretrain", spec, params, "abcdef0", True) == \
        "pretrain · abcdef0-dirty"


# ----------------------------------------------------------------------------- killed runs
_KILLED_SCRIPT = """
import sys, time
from gantext import tracking
from gantext.config import params_from_dict
from gantext.paths import Paths
from pathlib import Path
params = params_from_dict({"tracking": {"enabled": True, "experiment": "t"}})
with tracking.stage_run("train", params, Paths(Path(sys.argv[1]))) as run:
    print(run.run_id, flush=True)
    time.sleep(120)
"""


def test_run_of_a_killed_stage_is_ended_as_killed_by_the_next_run(repo, clean_env, capsys):
    import mlflow

    paths = Paths(repo)
    env = {**os.environ, "PYTHONPATH": str(Path(tracking.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_SCRIPT, str(repo)], env=env,
                            stdout=subprocess.PIPE, text=True)
    killed_id = proc.stdout.readline().strip()
    proc.kill()  # SIGKILL: no chance to mark the run FAILED
    proc.wait()
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(paths))
    assert client.get_run(killed_id).info.status == "RUNNING"
    # a RUNNING run of a live process (this one) is not touched
    exp_id = client.get_experiment_by_name("t").experiment_id
    live = client.create_run(exp_id, tags={"gantext.stage": "train", **provenance.process_tags()})
    with tracking.stage_run("train", _params(), paths) as run:
        pass
    err = capsys.readouterr().err
    assert client.get_run(killed_id).info.status == "KILLED"
    assert f"MLflow run {killed_id} of stage 'train'" in err and "marked KILLED" in err
    assert client.get_run(live.info.run_id).info.status == "RUNNING"
    assert client.get_run(run.run_id).info.status == "FINISHED"


# ----------------------------------------------------------------------------- pipelines
def test_stage_runs_of_one_pipeline_nest_under_one_parent(repo, clean_env):
    """One parent run per pipeline id (here a DVC experiment's), the stage runs nested under it;
    a stage run by hand (no pipeline) gets none."""
    import mlflow

    clean_env.setenv("DVC_EXP_NAME", "exp-a")
    clean_env.setenv("DVC_EXP_BASELINE_REV", "abcdef0123")
    paths = Paths(repo)
    runs = []
    for _ in range(2):  # two stages of the same pipeline
        with tracking.stage_run("train", _params(), paths) as run:
            pass
        runs.append(run)
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(paths))
    parents = {client.get_run(r.run_id).data.tags[tracking.PARENT_TAG] for r in runs}
    assert len(parents) == 1
    parent = client.get_run(parents.pop())
    assert parent.data.tags["gantext.role"] == "pipeline"
    assert parent.data.tags["gantext.pipeline_id"] == "exp-a@abcdef0"
    assert parent.info.run_name.startswith("pipeline · ") and "exp-a" in parent.info.run_name
    assert parent.data.params["pretrain.epochs"] == "2"  # every params value
    assert parent.data.params["adversarial.loss"] == AdversarialConfig().loss
    assert parent.info.status == "FINISHED"  # ended with its last stage
    clean_env.setenv("DVC_EXP_NAME", "exp-b")  # another experiment: another parent
    with tracking.stage_run("train", _params(), paths) as other:
        pass
    assert client.get_run(other.run_id).data.tags[tracking.PARENT_TAG] != parent.info.run_id
    clean_env.delenv("DVC_EXP_NAME")
    with tracking.stage_run("train", _params(), paths) as alone:  # pytest is no dvc process
        pass
    assert tracking.PARENT_TAG not in client.get_run(alone.run_id).data.tags


def test_failing_stage_fails_its_pipeline_parent(repo, clean_env):
    import mlflow

    clean_env.setenv(provenance.ENV_PIPELINE_ID, "pipe-fail")
    paths = Paths(repo)
    with pytest.raises(RuntimeError):
        with tracking.stage_run("train", _params(), paths) as run:
            raise RuntimeError("diverged")
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(paths))
    parent = client.get_run(client.get_run(run.run_id).data.tags[tracking.PARENT_TAG])
    assert parent.info.status == "FAILED"


def _lock_of(root: Path, stage: str) -> None:
    """A dvc.lock whose `stage` entry records the workspace's md5s (as `dvc repro` writes it)."""
    import yaml

    entry = {"cmd": "python train.py",
             "deps": [{"path": "src", "md5": provenance.dvc_md5(root / "src", root)}],
             "params": {"params.yaml": {"seed": 0, "pretrain": {"epochs": 2}}},
             "outs": [{"path": "out", "md5": provenance.dvc_md5(root / "out", root)},
                      {"path": "m.json", "md5": provenance.dvc_md5(root / "m.json", root)}]}
    (root / "dvc.lock").write_text(yaml.safe_dump({"schema": "2.0", "stages": {stage: entry}}))


def test_track_gives_a_restored_stage_a_cached_run_pointing_at_its_origin(repo, clean_env):
    """The `track` stage: a stage of dvc.lock without a run in this pipeline (skipped or restored
    from DVC's run-cache) gets a short run tagged gantext.cached=true whose cached_from is the run
    that computed the same outputs; the parent gets the headline figures and ends."""
    import mlflow

    (repo / "params.yaml").write_text("tracking:\n  enabled: true\n  experiment: t\n")
    paths = Paths(repo)
    clean_env.setenv(provenance.ENV_PIPELINE_ID, "first")
    with tracking.stage_run("pretrain", _params(), paths) as origin:  # computes the outputs
        (repo / "out").mkdir()
        (repo / "out" / "model.pt").write_bytes(b"weights")
        (repo / "metrics").mkdir()
        (repo / "metrics" / "pretrain.json").write_text(json.dumps(
            {"test_nll": 1.25, "machine": {"cpu": "X"}}))
        (repo / "m.json").write_text("{}")
        origin.set_tags({"dvc.out.out": provenance.dvc_md5(repo / "out", repo),
                         "dvc.out.m.json": provenance.dvc_md5(repo / "m.json", repo),
                         "gantext.stage": "pretrain"})
    _lock_of(repo, "pretrain")
    assert "every stage ran" in tracking.record_pipeline(paths)

    clean_env.setenv(provenance.ENV_PIPELINE_ID, "second")  # an experiment restored from cache
    line = tracking.record_pipeline(paths)
    assert "pretrain not executed here" in line, line
    client = mlflow.MlflowClient(tracking_uri=tracking.tracking_uri(paths))
    exp_id = client.get_experiment_by_name("t").experiment_id
    cached = client.search_runs([exp_id], "tags.`gantext.cached` = 'true'")
    assert len(cached) == 1
    c = cached[0]
    assert c.data.tags["gantext.cached_from"] == origin.run_id
    assert c.data.tags["gantext.stage"] == "pretrain" and c.info.status == "FINISHED"
    assert c.data.tags["gantext.pipeline_id"] == "second"
    assert c.data.params["pretrain.epochs"] == "2"  # the dvc.lock entry's params
    assert c.data.metrics["test_nll"] == 1.25 and "machine.cpu" not in c.data.metrics
    parent = client.get_run(c.data.tags[tracking.PARENT_TAG])
    assert parent.data.tags["gantext.pipeline_id"] == "second"
    assert parent.info.status == "FINISHED"
    assert parent.data.metrics["pretrain.test_nll"] == 1.25
    # tracking off: nothing, one line
    (repo / "params.yaml").write_text("tracking:\n  enabled: false\n")
    assert "disabled" in tracking.record_pipeline(paths)


def test_track_never_fails_the_pipeline(repo, clean_env):
    (repo / "params.yaml").write_text("tracking:\n  enabled: true\n")
    (repo / "dvc.lock").write_text(": not yaml [")
    clean_env.setenv(provenance.ENV_PIPELINE_ID, "p")
    assert tracking.record_pipeline(Paths(repo)).startswith("warning: MLflow tracking failed")
    clean_env.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert "not reachable" in tracking.record_pipeline(Paths(repo))


def test_ui_url_opens_the_model_training_layout():
    assert tracking.ui_url("1") == "http://127.0.0.1:5000/#/experiments/1?workflowType=machine_learning"
    assert tracking.ui_url("1", "abc").endswith("/#/experiments/1/runs/abc?workflowType=machine_learning")
