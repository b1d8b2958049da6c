"""Evaluate stage: the fixed protocol on the MLE and the adversarial generator.

Reads data/interim/{train,test}.txt, data/processed/ and both generator checkpoints; writes
metrics/evaluate.json, metrics/samples/, metrics/plots/quality_diversity.csv, the FID
extractor models/fid/extractor.npz (see gantext.evaluation for the protocol's choices) and the
lineage report metrics/lineage.md (gantext.lineage).
"""

from __future__ import annotations

import sys
import time

from stages._common import run


def main() -> None:
    from gantext.config import load_params
    from gantext.errors import CheckpointError
    from gantext.evaluation import evaluate, load_eval_data, write_outputs
    from gantext.io import write_text
    from gantext.lineage import build_lineage
    from gantext.metrics.fid import load_or_fit
    from gantext.paths import repo_paths
    from gantext.provenance import record_machine
    from gantext.runtime import (autocast_dtype, configure, resolve_device, resolve_precision,
                                 seed_everything)
    from gantext.tracking import stage_run
    from gantext.training.checkpoint import expect_spec, load_generator

    start = time.perf_counter()
    params = load_params()
    paths = repo_paths()
    checkpoints = {"mle": paths.pretrain_generator, "gan": paths.adversarial_generator}
    for name, path in checkpoints.items():
        if not path.is_file():
            stage = "pretrain" if name == "mle" else "adversarial"
            raise CheckpointError(f"{path}: the {name.upper()} generator is missing; evaluate "
                                  f"compares both generators: run `dvc repro {stage}` first")
    log = lambda m: print(f"evaluate: {m}", file=sys.stderr, flush=True)  # noqa: E731
    # auto sample counts -> the full protocol's for this corpus (a reduced one says so)
    cfg = params.evaluate.resolved(params.ingest.source, warn=lambda m: log(f"warning: {m}"))
    device = resolve_device(cfg.device)
    # Small tensors: one thread is as fast and keeps the numbers core-count independent
    # (measured: 500 samples in 0.5 s on one thread, 4.7 s on two oversubscribed ones).
    configure(params.runtime, device)
    seed_everything(params.seed, params.runtime.deterministic)
    data = load_eval_data(paths, cfg.split)
    # runtime.precision sets the decoding head's dtype (sampling); NLL stays fp32 (docs/guide/speed.md)
    precision = resolve_precision(params.runtime.precision, device)
    head = autocast_dtype(precision)
    expect = expect_spec(len(data.vocab), data.max_len, params.model.generator)  # not stale
    generators = {name: load_generator(path, vocab_hash=data.vocab.hash, device=device,
                                       expect=expect)[0]
                  .set_decode_precision(head) for name, path in checkpoints.items()}
    if params.evaluate.d_resample.enabled:  # the GAN's samples reweighted by its D: own row
        from gantext.metrics.resample import DResampled
        from gantext.training.adversarial import load_discriminator

        d = load_discriminator(paths.adversarial_discriminator, data.vocab.hash, device)
        generators["d_resample"] = DResampled(generators["gan"], d, params.evaluate.d_resample)
    if params.evaluate.length_match.enabled:  # both generators at the training lengths
        from gantext.metrics.length_match import length_matched

        generators.update(length_matched({m: generators[m] for m in ("mle", "gan")},
                                         data.train, params.evaluate.length_match))
    if paths.adversarial_control.is_file():  # the in-run control (adversarial.control): own row
        generators["control"] = load_generator(paths.adversarial_control, vocab_hash=data.vocab.hash,
                                               device=device)[0].set_decode_precision(head)
    oracle, modes = None, ()
    if params.ingest.source == "builtin":
        from gantext.corpus.grammar import MODES, default_grammar

        oracle, modes = default_grammar(), MODES

    # one ruler per corpus: fitted with a fixed seed on the train split, read back from disk
    extractor = load_or_fit(paths.fid_extractor, data.train, cfg.fid, log=log)
    with stage_run("evaluate", params, paths) as tracking:
        tracking.set_tags({"gantext.precision": precision})  # what ran, after any fallback
        result = evaluate(generators, data, cfg, params.seed, oracle=oracle,
                          modes=modes, device=device, extractor=extractor, log=log)
        # inside the run: the tracker hashes the stage's outs when the body finishes
        files = write_outputs(result, paths)
        record_machine(paths.metrics_json("evaluate"))  # what computed these figures (verify)
        tracking.log_metrics(result.metrics)  # nested -> dotted keys (mle.bleu5, ...)
        if "verdict" in result.metrics:  # numbers above; the sentence as a tag
            tracking.set_tags({"gantext.verdict": result.metrics["verdict"]["line"]})
        for f in files:
            tracking.log_artifact(f, "samples" if f.parent == paths.samples_dir else None)
        # the audit trail: upstream md5s from dvc.lock (already current), this stage's from the
        # workspace, MLflow run ids (see gantext.lineage)
        write_text(paths.lineage, build_lineage(paths, params, running_stage="evaluate",
                                                running_run_id=tracking.run_id))
        tracking.log_artifact(paths.lineage)
    m = result.metrics
    print(f"evaluate ({cfg.split} split): BLEU-5 mle {m['mle']['bleu5']:.4f} gan {m['gan']['bleu5']:.4f} "
          f"real {m['real']['bleu5']:.4f}; self-BLEU-5 mle {m['mle']['sbleu5']:.4f} "
          f"gan {m['gan']['sbleu5']:.4f}; FID mle {m['mle']['fid']:.4g} gan {m['gan']['fid']:.4g} "
          f"floor {m['real']['fid_floor']:.4g} (all at n = {m['mle']['n_samples']}, "
          f"{m['mle']['n_refs']} references); {time.perf_counter() - start:.1f} s")
    for name in ("mle_lm", "gan_lm"):
        if name in m:
            print(f"evaluate: {name} BLEU-5 {m[name]['bleu5']:.4f} self-BLEU-5 "
                  f"{m[name]['sbleu5']:.4f} FID {m[name]['fid']:.4g} length {m[name]['len']:.2f}")
    if "verdict" in m:
        print(f"evaluate: verdict (gan vs mle): {m['verdict']['line']}", file=sys.stderr)
    if "d_resample" in m:
        print(f"evaluate: d_resample BLEU-5 {m['d_resample']['bleu5']:.4f} self-BLEU-5 "
              f"{m['d_resample']['sbleu5']:.4f} FID {m['d_resample']['fid']:.4g}")


if __name__ == "__main__":
    run(main)
