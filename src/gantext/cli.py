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
from gantext.protocol.command import add_protocol_arguments, run_protocol_command
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
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                   help="dtype of the decoding head (evaluate uses runtime.precision, bf16 by "
                        "default: pass bf16 to draw what it draws; default: %(default)s)")


def _run_sample(args: argparse.Namespace) -> int:
    import torch

    from gantext.runtime import autocast_dtype, resolve_device, resolve_precision
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
    model.set_decode_precision(autocast_dtype(resolve_precision(
        args.precision, device, key="--precision", explicit="pass --precision fp32")))
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
    p.add_argument("--exp", default=None, metavar="NAME",
                   help="the lineage of this DVC experiment (its commit's dvc.lock and metrics; "
                        "outputs checked against the DVC cache) instead of the workspace")
    p.add_argument("--no-mlflow", action="store_true",
                   help="do not look up MLflow run ids (no tracking store needed)")
    p.add_argument("--md", action="store_true",
                   help="print Markdown (what metrics/lineage.md holds) instead of plain text")
    p.add_argument("-o", "--output", default=None,
                   help="also write the report to this file, as Markdown")


def _run_lineage(args: argparse.Namespace) -> int:
    from gantext.io import write_text
    from gantext.lineage import collect_lineage, render_lineage
    from gantext.paths import repo_paths
    from gantext.tracking import tracking_settings

    paths = repo_paths(args.root)
    data = collect_lineage(paths, tracking_settings(paths.params),
                           query_mlflow=not args.no_mlflow, exp=args.exp)
    md = render_lineage(data, paths, "md")
    if args.output:
        write_text(args.output, md)
    sys.stdout.write(md if args.md else render_lineage(data, paths, "text"))
    sys.stdout.flush()
    return 0


# ----------------------------------------------------------------------------- summary
#: the optional model rows the evaluate stage adds (``evaluate.length_match``: both generators
#: drawn at the training lengths; ``evaluate.d_resample``: the GAN's samples reweighted by its D)
EXTRA_ROWS = ("mle_lm", "gan_lm", "d_resample")


def _add_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", default=None,
                   help="a DVC experiment (see `dvc exp show`), branch, tag or commit; default: "
                        "the workspace")
    p.add_argument("--metrics", default=None,
                   help="the workspace's evaluate metrics file (default: metrics/evaluate.json)")


def _run_summary(args: argparse.Namespace) -> int:
    from gantext.summary import load_run, render

    sys.stdout.write(render(load_run(Path("."), args.name,
                                     Path(args.metrics) if args.metrics else None)))
    return 0


# ----------------------------------------------------------------------------- compare
def _add_compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help="only these experiments (default: all shown by "
                   "`dvc exp show` with the same flags)")
    p.add_argument("-A", "--all-commits", action="store_true",
                   help="experiments of every commit (dvc exp show -A)")
    p.add_argument("-a", "--all-branches", action="store_true", help="dvc exp show -a")
    p.add_argument("-n", "--num", default=None, help="dvc exp show -n")
    p.add_argument("--keep", default=None, metavar="REGEX",
                   help="more columns, e.g. 'evaluate\\.|real\\.bleu5' (added to the headline)")
    p.add_argument("--width", type=int, default=None,
                   help="characters the table may use (default: 120); columns of least use "
                        "are left out to fit, and named")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--wide", action="store_true",
                     help="every column under its full name, DVC's rev and Created too")
    fmt.add_argument("--md", action="store_true", help="Markdown table")
    fmt.add_argument("--csv", action="store_true", help="CSV")


def _run_compare(args: argparse.Namespace) -> int:
    import subprocess

    from gantext.compare import DEFAULT_WIDTH, dvc_command, filter_rows, render

    cmd = dvc_command(args.all_commits, args.all_branches, args.num, args.keep)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True)
    except OSError as exc:
        raise GantextError(f"cannot run dvc ({exc}); activate the project's .venv") from None
    sys.stderr.write(done.stderr)
    if done.returncode:
        return done.returncode
    rows = filter_rows(done.stdout, args.names)
    if not rows:
        return 0
    missing = sorted(set(args.names) - {c for r in rows[1:] for c in r})
    if missing:
        print(f"warning: no experiment named {', '.join(missing)} (try -A)", file=sys.stderr)
    if args.width is not None and args.width < 20:
        raise GantextError(f"--width must be >= 20, got {args.width}")
    fmt = "csv" if args.csv else "md" if args.md else "table"
    width = None if args.wide else (args.width or DEFAULT_WIDTH)
    sys.stdout.write(render(rows, fmt, width))
    return 0


# ----------------------------------------------------------------------------- verify
#: `gantext verify`'s exit status when some figure lies outside its committed interval (1 is an
#: error): scripts/pipeline.sh prints the comparison and does not fail on it.
EXIT_NOT_REPRODUCED = 3


def _add_verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--against", default="HEAD", metavar="REV",
                   help="commit, branch, tag or DVC experiment to compare with (default: HEAD)")
    p.add_argument("--rtol", type=float, default=None,
                   help="relative tolerance for figures without an interval (default: 0.01)")
    p.add_argument("--brief", action="store_true",
                   help="the verdict lines and the figures outside their interval only")
    p.add_argument("--all", action="store_true", dest="show_all",
                   help="list every figure without an interval that moved beyond --rtol")
    p.add_argument("--root", default=".", help="repository root (default: current directory)")


def _run_verify(args: argparse.Namespace) -> int:
    from gantext.verify import RTOL, render, verify

    rtol = RTOL if args.rtol is None else args.rtol
    if not rtol >= 0:
        raise GantextError(f"--rtol must be >= 0, got {args.rtol}")
    cmp = verify(Path(args.root).resolve(), args.against, rtol)
    sys.stdout.write(render(cmp, brief=args.brief, show_all=args.show_all))
    return 0 if cmp.reproduced else EXIT_NOT_REPRODUCED


#: name -> Command. Other subcommands (e.g. `lineage`) register here.
COMMANDS: dict[str, Command] = {
    "compare": Command("compare experiments on the headline metrics (`dvc exp show` with the "
                       "headline columns; -A, -a, -n and experiment names passed through)",
                       _add_compare_args, _run_compare),
    "sample": Command("print sentences sampled from a generator checkpoint",
                      _add_sample_args, _run_sample),
    "lineage": Command("print how the current model (or a DVC experiment's, --exp) was made: "
                       "inputs, md5s (as in dvc.lock), params, metrics, machine, git commit, "
                       "MLflow runs", _add_lineage_args, _run_lineage),
    "summary": Command("print the verdict (GAN vs MLE and the control, at equal diversity and "
                       "length) and the headline metrics, of the workspace or an experiment",
                       _add_summary_args, _run_summary),
    "protocol": Command("run MLE + objectives + the control x seeds on a corpus (the COCO "
                        "recipe, your files, the built-in grammar) and report the multi-seed "
                        "verdict vs MLE and vs the control", add_protocol_arguments,
                        run_protocol_command),
    "sweep": Command("run a grid of DVC experiments on the local dvc queue or a Ray cluster",
                     add_sweep_arguments, run_sweep_command),
    "verify": Command("did this workspace reproduce a revision's figures? metrics/*.json vs "
                      "REV's (default HEAD), figure by figure against the committed 95% "
                      "intervals; exit 3 when one lies outside", _add_verify_args, _run_verify),
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
