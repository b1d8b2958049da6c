"""Stage adversarial: fine-tune the MLE generator with the objective named by adversarial.loss.

Reads data/processed and models/pretrain/generator.pt; writes models/adversarial/{generator,
discriminator}.pt, metrics/adversarial.json and metrics/plots/adversarial.csv. A killed run resumes
from .gantext/state/adversarial.resume.pt (outside DVC outs) when nothing it depends on changed.
"""

from __future__ import annotations

import dataclasses
import sys

from gantext.config import load_params
from gantext.data import load_corpus
from gantext.objectives import CONTROL
from gantext.paths import repo_paths
from gantext.provenance import record_machine
from gantext.runtime import configure, resolve_device, resolve_precision
from gantext.tracking import stage_run
from gantext.training.adversarial import resume_fingerprint, train_adversarial, write_outputs
from gantext.training.checkpoint import (discard_resume, expect_spec, load_generator,
                                         save_generator)
from stages._common import run


def main() -> None:
    paths = repo_paths()
    params = load_params(paths.params)
    cfg = params.adversarial
    device = resolve_device(cfg.device)
    configure(params.runtime, device)
    precision = resolve_precision(params.runtime.precision, device)
    corpus = load_corpus(paths)
    # run directly (not by dvc repro), a pretrain checkpoint of other settings must not train on
    generator, _ = load_generator(paths.pretrain_generator, vocab_hash=corpus.vocab.hash,
                                  expect=expect_spec(len(corpus.vocab), corpus.max_len,
                                                     params.model.generator))
    resume = paths.resume_file("adversarial")
    fingerprint = resume_fingerprint(params, device, paths.pretrain_generator,
                                     paths.vocab, paths.encoded("train"), paths.encoded("valid"))
    with_control = cfg.control and cfg.loss != CONTROL
    control_resume = paths.resume_file("adversarial-control")
    with stage_run("adversarial", params, paths) as tracker:
        tracker.set_tags({"gantext.precision": precision})  # what ran, after any fallback
        result = train_adversarial(generator, corpus, cfg, params.model.discriminator, params.seed,
                                   resume_file=resume, fingerprint=fingerprint, tracker=tracker,
                                   precision=precision)
        control = None
        if with_control:
            # the same loop, seed and settings with the control's objective, from the same MLE
            ctl_cfg = dataclasses.replace(cfg, loss=CONTROL)
            ctl_params = dataclasses.replace(params, adversarial=ctl_cfg)
            print(f"adversarial: the control ({CONTROL}, {cfg.steps} generator updates, no D) "
                  "from the same MLE generator", file=sys.stderr)
            control = train_adversarial(
                load_generator(paths.pretrain_generator, vocab_hash=corpus.vocab.hash)[0], corpus,
                ctl_cfg, params.model.discriminator, params.seed, resume_file=control_resume,
                fingerprint=resume_fingerprint(ctl_params, device, paths.pretrain_generator,
                                               paths.vocab, paths.encoded("train"),
                                               paths.encoded("valid")),
                precision=precision)
            result.metrics["control"] = control.metrics
            tracker.log_metrics({"control": {**control.metrics,
                                             "wall_seconds": control.wall_seconds}})
        write_outputs(result, paths, corpus.vocab.hash, cfg.loss)
        if control is not None:
            save_generator(paths.adversarial_control, control.generator, corpus.vocab.hash,
                           metrics=control.metrics,
                           extra={"stage": "adversarial", "loss": CONTROL, "role": "control"})
        record_machine(paths.metrics_json("adversarial"))  # what computed these figures (verify)
        tracker.log_metrics({**{k: v for k, v in result.metrics.items() if k != "control"},
                             "wall_seconds": result.wall_seconds})
        tracker.log_artifact(paths.plot_csv("adversarial"))
    discard_resume(resume)  # finished: the outputs are the record now
    discard_resume(control_resume)
    m = result.metrics
    steps = (f"{cfg.steps} steps (rolled back to step {m['kept_step']})"
             if m.get("rolled_back") else f"{cfg.steps} steps")
    # the guard's figures too, when it measured them: NLL alone hid what bce did to a news corpus
    figures = ", ".join(f"{label} {m[f'guard_{k}_start']:.4f} -> {m[f'guard_{k}_end']:.4f}"
                        for k, label in (("bleu5", "BLEU-5"), ("sbleu5", "self-BLEU-5"))
                        if f"guard_{k}_end" in m)
    if figures:  # the guard measured the end, which a rollback did not hand out
        figures = (f"; {'the end it rejected' if m.get('rolled_back') else 'start -> end'}: "
                   f"{figures} ({cfg.guard_samples} samples at T = 1 vs valid)")
    if "guard_gap_max_end" in m:  # and its quality-diversity curve against the MLE's
        figures += (f"; largest gap above MLE's curve {m['guard_gap_max_end']:+.4f} "
                    f"[{m['guard_gap_max_lo_end']:+.4f}, {m['guard_gap_max_hi_end']:+.4f}]")
    print(f"adversarial ({cfg.loss}): {steps} in {result.wall_seconds:.1f}s; "
          f"valid NLL {m['valid_nll_start']:.4f} -> {m['valid_nll']:.4f}{figures}", file=sys.stderr)
    if control is not None:
        c = control.metrics
        print(f"adversarial: control ({CONTROL}): {cfg.steps} steps in "
              f"{control.wall_seconds:.1f}s; valid NLL {c['valid_nll_start']:.4f} -> "
              f"{c['valid_nll']:.4f}", file=sys.stderr)


if __name__ == "__main__":
    run(main)
