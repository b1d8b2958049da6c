"""pretrain stage: MLE generator on the tokenized corpus (`python -m stages.pretrain`).

Writes models/pretrain/generator.pt, metrics/pretrain.json and metrics/plots/pretrain.csv. A
killed run continues from its last completed epoch (state in .gantext/state/, outside DVC outs).
"""

from __future__ import annotations

from stages._common import run


def main() -> None:
    from gantext.config import load_params
    from gantext.data import load_corpus
    from gantext.io import write_csv, write_json
    from gantext.paths import repo_paths
    from gantext.provenance import record_machine
    from gantext.runtime import configure, resolve_device, resolve_precision, seed_everything
    from gantext.tracking import stage_run
    from gantext.training.checkpoint import discard_resume, save_generator
    from gantext.training.mle import EpochReport, train_mle

    paths = repo_paths()
    params = load_params(paths.params)
    corpus = load_corpus(paths)
    device = resolve_device(params.pretrain.device)
    configure(params.runtime, device)
    precision = resolve_precision(params.runtime.precision, device)
    seed_everything(params.seed, params.runtime.deterministic)
    resume = paths.resume_file("pretrain")

    with stage_run("pretrain", params, paths) as tracker:
        tracker.set_tags({"gantext.precision": precision})  # what ran, after any fallback
        def on_epoch_end(rep: EpochReport) -> None:
            tracker.log_metrics({**{k: v for k, v in rep.row.items() if k != "epoch"},
                                 "epoch_seconds": rep.seconds,
                                 "train_tokens_per_s": rep.train_tokens_per_s}, step=rep.epoch)

        result = train_mle(corpus, params.model.generator, params.pretrain, seed=params.seed,
                           device=device, resume_path=resume, on_epoch_end=on_epoch_end,
                           precision=precision)
        for row in result.history[:result.start_epoch - 1]:  # epochs restored from a killed run
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])

        save_generator(paths.pretrain_generator, result.model, corpus.vocab.hash,
                       metrics=result.summary)
        write_csv(paths.plot_csv("pretrain"), result.history)
        write_json(paths.metrics_json("pretrain"), result.summary)
        record_machine(paths.metrics_json("pretrain"))  # what computed these figures (verify)
        tracker.log_metrics({f"final_{k}": v for k, v in result.summary.items()})
        tracker.log_metrics(result.timings)  # timings vary run to run: MLflow only, not the JSON
        tracker.log_artifact(paths.plot_csv("pretrain"))
    discard_resume(resume)
    print(f"pretrain: best epoch {result.summary['best_epoch']}, test NLL "
          f"{result.summary['test_nll']:.4f} per token ({result.summary['test_nll_anchor']:.4f} "
          "anchor); "
          f"{result.timings['wall_seconds']:.1f}s, "
          f"{result.timings['train_tokens_per_s']:.0f} train tokens/s on {device}")


if __name__ == "__main__":
    run(main)
