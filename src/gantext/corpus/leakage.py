"""Train/held-out leakage: a sentence of the valid or test split that is also in train.

The rule (``ingest.leakage``): ``drop`` removes such sentences **from train** and keeps the
held-out splits intact. Why train and not the held-out split: the test split is the yardstick
(a shipped test file such as COCO's is fixed; BLEU scores samples against all of it), and the
valid split selects the model; pruning them to fit the training data would make the yardstick
depend on what the model was trained on. Dropping a few training copies costs little data.
Each dropped line is a reject with reason ``in_test`` (or ``in_valid``; a sentence in both
splits counts as ``in_test``), so ``lines read = kept + rejected`` still holds.

``keep`` leaves train as it is and only reports. ``auto`` (the default) is ``drop`` for file
corpora and ``keep`` for the built-in grammar: its sentences are i.i.d. samples of a known
distribution whose most probable sentences repeat by design (about a third of the default
train split also occurs in valid or test), its quality is measured by the grammar oracle, and
dropping them would train on a distorted distribution.

``dedupe`` keeps its own meaning: exact duplicates *within* a split (within ``test_paths`` and
within ``paths``) are rejected as ``duplicate``; duplicates *across* splits are this module's.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from gantext.corpus.cleaning import IN_TEST, IN_VALID, Kept, Reject

__all__ = ["LeakageReport", "apply_leakage_rule", "resolve_rule", "warn"]


@dataclass
class LeakageReport:
    """The train split after the rule, the rejects it made, and the counts for metrics."""

    train: list[Kept]
    rejects: list[Reject]
    metrics: dict


def resolve_rule(rule: str, source: str) -> str:
    """``auto`` -> ``drop`` for files, ``keep`` for the built-in grammar (see the module doc)."""
    if rule == "auto":
        return "keep" if source == "builtin" else "drop"
    return rule


def apply_leakage_rule(train: list[Kept], valid: list[Kept], test: list[Kept], rule: str,
                       test_paths_overlap: int | None = None) -> LeakageReport:
    """Apply `rule` ("drop" or "keep") to `train`; count every overlap between the splits.

    `test_paths_overlap`: sentences of ``ingest.test_paths`` also found in ``ingest.paths``
    before the split (None when there is no shipped test split).
    """
    in_valid = {k.sentence for k in valid}
    in_test = {k.sentence for k in test}
    kept: list[Kept] = []
    rejects: list[Reject] = []
    n_test = n_valid = 0
    for k in train:
        reason = IN_TEST if k.sentence in in_test else IN_VALID if k.sentence in in_valid else None
        n_test += reason == IN_TEST
        n_valid += reason == IN_VALID
        if reason is not None and rule == "drop":
            rejects.append(Reject(k.file, k.line, reason, k.raw if k.raw is not None
                                  else k.sentence))
        else:
            kept.append(k)
    metrics = {
        "rule": rule,
        "train_in_test": n_test,    # train lines whose sentence is in test (before the rule)
        "train_in_valid": n_valid,  # ... in valid and not in test
        "valid_in_test": sum(k.sentence in in_test for k in valid),  # reported, never dropped
        "dropped": len(rejects),
    }
    if test_paths_overlap is not None:  # lines of the shipped test split found in paths
        metrics["test_paths_in_paths"] = test_paths_overlap
    return LeakageReport(train=kept, rejects=rejects, metrics=metrics)


def warn(metrics: dict, n_test: int) -> None:
    """One stderr line when held-out sentences also occur in the training data."""
    leaks = metrics["train_in_test"] + metrics["train_in_valid"]
    shipped = metrics.get("test_paths_in_paths", 0)
    if not leaks and not shipped:
        return
    what = ("dropped from train (reasons in_test / in_valid in data/interim/rejects.jsonl)"
            if metrics["rule"] == "drop" else
            "kept in train (ingest.leakage: keep); set ingest.leakage: drop to remove them")
    shipped_msg = (f"{shipped} of the {n_test} test sentences (ingest.test_paths) also occur in "
                   "ingest.paths; " if shipped else "")
    print(f"warning: {shipped_msg}{metrics['train_in_test']} train lines are also in test and "
          f"{metrics['train_in_valid']} in valid: {what}", file=sys.stderr)
