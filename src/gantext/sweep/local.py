"""The default engine: DVC's own queue on this machine (``dvc exp run --queue`` + workers).

Experiments that already exist (``dvc exp list``) are skipped and ones still queued or running
from an earlier call are waited for, not queued twice, so an interrupted sweep resumes (a task
left ``Running`` by a worker that died with its session is queued again). A failed
one is reported by name with the tail of its ``dvc queue logs``; its queue entry is removed when
the sweep is run again, so it is queued afresh. Queue workers are started only when none is
running and never stopped here (``dvc queue stop`` halts them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from gantext.sweep import Experiment, Outcome, SweepOptions, dvc, local_experiments

POLL_S = 2.0


def parse_queue_status(text: str) -> dict[str, str]:
    """Experiment name -> Queued | Running | Success | Failed from ``dvc queue status`` output."""
    states: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split()
        # rows: <task id> <name> <created (1-3 words)> <status>; the header and footer differ
        if len(parts) >= 4 and parts[-1] in ("Queued", "Running", "Success", "Failed"):
            states[parts[1]] = parts[-1]
    return states


def queue_states(repo: Path) -> dict[str, str]:
    """:func:`parse_queue_status` of `repo`'s queue now."""
    return parse_queue_status(dvc(repo, "queue", "status").stdout)


def _workers_running(repo: Path) -> bool:
    """True when `dvc queue status` reports a worker (busy ones may show as idle or as none)."""
    for line in dvc(repo, "queue", "status").stdout.splitlines():
        if line.startswith("Worker status:"):
            counts = [int(w) for w in line.split(":", 1)[1].replace(",", " ").split() if w.isdigit()]
            return sum(counts) > 0
    return False


def _alive(pid: int) -> bool:
    """True when a process `pid` exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphaned_runs(repo: Path) -> set[str]:
    """Names of experiments whose run DVC still records as in progress although the process
    running it is gone.

    Why: a queue worker killed with its session (or a reboot) leaves its task ``Running`` in
    ``dvc queue status`` for ever, so a resumed sweep would wait on it without end. DVC keeps
    each run's info in ``.dvc/tmp/exps/run/<rev>/<rev>.run`` (JSON, with the name) and the
    running process in ``<rev>.pid``; a missing or unreadable file counts as not orphaned."""
    names: set[str] = set()
    for info in (repo / ".dvc" / "tmp" / "exps" / "run").glob("*/*.run"):
        try:
            name = json.loads(info.read_text(encoding="utf-8")).get("name")
            pid = int(info.with_suffix(".pid").read_text(encoding="utf-8").strip())
        except (OSError, ValueError, AttributeError):
            continue
        if name and not _alive(pid):
            names.add(name)
    return names


def run_queue(repo: Path, experiments: list[Experiment], options: SweepOptions) -> list[Outcome]:
    """Queue every experiment not yet done, start `options.jobs` workers, wait (if asked)."""
    done = local_experiments(repo)
    states = queue_states(repo)
    outcomes = {e.name: Outcome(e.name, "skipped", 0, "exists") for e in experiments
                if e.name in done}
    mine = [e for e in experiments if e.name not in done]
    orphans = orphaned_runs(repo) if any(states.get(e.name) == "Running" for e in mine) else set()
    for e in mine:
        state = states.get(e.name)
        if state == "Running" and e.name in orphans:
            print(f"[sweep] {e.name}: 'Running' in the queue but its process is gone (a killed "
                  "worker or session): marked failed and queued again", flush=True)
            dvc(repo, "queue", "kill", "--force", e.name, check=False)
            state = "Failed"
        if state in ("Queued", "Running"):
            print(f"[sweep] {e.name}: already {state.lower()}, not queued again", flush=True)
            continue
        if state is not None:  # a failed (or finished-then-removed) entry of an earlier sweep
            dvc(repo, "queue", "remove", e.name)
        dvc(repo, "exp", "run", "--queue", "-n", e.name, *e.set_flags(), *e.targets)
        print(f"[sweep] {e.name}: queued", flush=True)
    if mine and not _workers_running(repo):
        # not captured: the worker daemons inherit the pipes and would hold them open
        subprocess.run(["dvc", "queue", "start", "--jobs", str(options.jobs)], cwd=repo,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not options.wait:
        outcomes.update({e.name: Outcome(e.name, "queued", 0, "dvc queue status")
                         for e in mine})
        return [outcomes[e.name] for e in experiments]
    start = time.monotonic()
    while True:
        states = queue_states(repo)
        pending = [e.name for e in mine if states.get(e.name) in ("Queued", "Running")]
        if not pending:
            break
        time.sleep(POLL_S)
    finished = local_experiments(repo)
    for e in mine:
        if e.name in finished:
            outcomes[e.name] = Outcome(e.name, "done", 1,
                                       f"{time.monotonic() - start:.0f} s (queue)")
        else:
            log = dvc(repo, "queue", "logs", e.name, check=False)
            outcomes[e.name] = Outcome(e.name, "failed", 1, states.get(e.name, "?"),
                                       [(log.stdout + log.stderr)[-3000:]])
    sys.stdout.flush()
    return [outcomes[e.name] for e in experiments]
