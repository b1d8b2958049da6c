"""The `gantext` command line: small subcommands over the library.

Each subcommand is one entry in :data:`COMMANDS`: a function that adds its arguments to an
argparse sub-parser and a function that runs it. Adding a command = two functions + one line.
A :class:`~gantext.errors.GantextError` becomes one ``error: ...`` line on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable, NamedTuple

from gantext.errors import CheckpointError, DataError, GantextError
from gantext.sweep import add_sweep_arguments, run_sweep_command


class Command(NamedTuple):
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# ----------------------------------------------------------------------------- sample
def _add_sample_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="models/pretrain/generator.pt",
                   help="generator checkpoint (pretrain or adversarial; default: %(default)s)")
    p.add_argument("-n", "--num", type=int, default=20, help="sentences to sample (default: 20)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature (> 0)")
    p.add_argument("--seed", type=int, default=None,
                   help="sampling seed (same seed + model => same sentences); default: random")
    p.add_argument("--vocab", default="data/processed/vocab.json",
                   help="vocabulary the model was trained with (default: %(default)s)")
    p.add_argument("--max-len", type=int, default=None,
                   help="tokens per sentence before <eos> (default: the model's training length)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | auto (default: cpu)")


def _run_sample(args: argparse.Namespace) -> int:
    import torch

    from gantext.runtime import resolve_device
    from gantext.text.vocab import Vocab
    from gantext.training.checkpoint import load_generator

    if args.num < 0:
        raise GantextError(f"-n must be >= 0, got {args.num}")
    if not args.temperature > 0:
        raise GantextError(f"--temperature must be > 0, got {args.temperature}")
    if args.max_len is not None and args.max_len < 1:
        raise GantextError(f"--max-len must be >= 1, got {args.max_len}")
    vocab_path = Path(args.vocab)
    if not vocab_path.is_file():
        raise DataError(f"{vocab_path}: vocabulary not found; run `dvc repro tokenize` or pass "
                        "--vocab")
    try:
        vocab = Vocab.load(vocab_path)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{vocab_path}: not a gantext vocabulary ({exc})") from None
    device = resolve_device(args.device)
    model, _ = load_generator(args.model, vocab_hash=vocab.hash, device=device)
    if model.spec.vocab_size != len(vocab):
        raise CheckpointError(f"{args.model}: vocabulary size {model.spec.vocab_size} does not "
                              f"match {vocab_path} ({len(vocab)} tokens)")
    max_len = args.max_len if args.max_len is not None else model.spec.max_len
    if max_len is None:
        raise CheckpointError(f"{args.model}: the checkpoint does not record the sentence length; "
                              "pass --max-len")
    gen = torch.Generator()
    if args.seed is None:
        gen.seed()
    else:
        gen.manual_seed(args.seed)
    ids, _ = model.sample(args.num, max_len, temperature=args.temperature, generator=gen)
    out = sys.stdout
    for row in ids.tolist():
        out.write(vocab.decode(row) + "\n")
    out.flush()
    return 0


# ----------------------------------------------------------------------------- lineage
def _add_lineage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default=".", help="repository root (default: current directory)")
    p.add_argument("--no-mlflow", action="store_true",
                   help="do not look up MLflow run ids (faster; no tracking store needed)")
    p.add_argument("-o", "--output", default=None, help="also write the report to this file")


def _run_lineage(args: argparse.Namespace) -> int:
    from gantext.config import load_params
    from gantext.io import write_text
    from gantext.lineage import build_lineage
    from gantext.paths import repo_paths

    paths = repo_paths(args.root)
    params = load_params(paths.params) if paths.params.is_file() else None
    text = build_lineage(paths, params, query_mlflow=not args.no_mlflow)
    if args.output:
        write_text(args.output, text)
    sys.stdout.write(text)
    sys.stdout.flush()
    return 0


# ----------------------------------------------------------------------------- summary
#: the headline rows of `gantext summary` (keys of metrics/evaluate.json)
SUMMARY_KEYS = ("bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3", "sbleu4", "sbleu5",
                "fid", "fid_floor", "nll", "nll_anchor", "validity", "oracle_nll", "mode_js")


def _add_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", default="metrics/evaluate.json",
                   help="the evaluate stage's metrics file (default: %(default)s)")


def summary_table(metrics: dict) -> str:
    """A compact metric x (mle, gan, delta, real) table of evaluate.json's headline keys."""
    cols = [c for c in ("mle", "gan", "delta", "real") if isinstance(metrics.get(c), dict)]
    rows = [k for k in SUMMARY_KEYS if any(k in metrics[c] for c in cols)]
    fmt = lambda v: "-" if v is None else (f"{v:.4f}" if isinstance(v, float) else str(v))  # noqa: E731
    lines = [f"{'metric':<12}" + "".join(f"{c:>10}" for c in cols)]
    for k in rows:
        lines.append(f"{k:<12}" + "".join(f"{fmt(metrics[c].get(k)):>10}" for c in cols))
    return "\n".join(lines) + "\n"


def _run_summary(args: argparse.Namespace) -> int:
    from gantext.io import read_json

    path = Path(args.metrics)
    if not path.is_file():
        raise DataError(f"{path}: not found; run the pipeline first (`dvc repro`)")
    sys.stdout.write(summary_table(read_json(path)))
    return 0


#: name -> Command. Other subcommands (e.g. `lineage`) register here.
COMMANDS: dict[str, Command] = {
    "sample": Command("print sentences sampled from a generator checkpoint",
                      _add_sample_args, _run_sample),
    "lineage": Command("print how the current model was made: inputs, md5s (as in dvc.lock), "
                       "params, metrics, git commit, MLflow runs", _add_lineage_args,
                       _run_lineage),
    "summary": Command("print the headline evaluation metrics (MLE, GAN, delta, real data)",
                       _add_summary_args, _run_summary),
    "sweep": Command("run a grid of DVC experiments on the local dvc queue or a Ray cluster",
                     add_sweep_arguments, run_sweep_command),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gantext", description="gantext: a text-GAN laboratory")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, cmd in COMMANDS.items():
        p = sub.add_parser(name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Console entry point: `gantext COMMAND ...`; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except GantextError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `gantext sample | head`
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
