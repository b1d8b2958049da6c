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
#: The headline columns of `gantext compare` (a `dvc exp show --keep` regex): what was run
#: (seed, loss) and how it scored (BLEU-5, self-BLEU-5, FID, NLL of both generators; the
#: optional rows' BLEU-5, self-BLEU-5 and FID where an experiment has them).
COMPARE_KEEP = (r"^Experiment$|^rev$|^Created$|^seed$|^adversarial\.loss$"
                r"|^(mle|gan)\.(bleu5|sbleu5|fid|nll)$|^delta\.bleu5$"
                r"|^(" + "|".join(EXTRA_ROWS) + r")\.(bleu5|sbleu5|fid)$")


def _add_compare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", help="only these experiments (default: all shown by "
                   "`dvc exp show` with the same flags)")
    p.add_argument("-A", "--all-commits", action="store_true",
                   help="experiments of every commit (dvc exp show -A)")
    p.add_argument("-a", "--all-branches", action="store_true", help="dvc exp show -a")
    p.add_argument("-n", "--num", default=None, help="dvc exp show -n")
    p.add_argument("--keep", default=None, metavar="REGEX",
                   help="more columns, e.g. 'evaluate\\.|real\\.bleu5' (added to the headline)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--md", action="store_true", help="Markdown table")
    fmt.add_argument("--csv", action="store_true", help="CSV")


def compare_command(args: argparse.Namespace) -> list[str]:
    """The `dvc exp show --csv` command line `gantext compare` runs (names are filtered and the
    table drawn afterwards: DVC's own table elides columns ("…") to fit the terminal)."""
    import shutil

    dvc = Path(sys.executable).with_name("dvc")
    cmd = [str(dvc) if dvc.is_file() else (shutil.which("dvc") or "dvc"), "exp", "show",
           "--no-pager", "--drop", ".*",
           "--keep", COMPARE_KEEP + (f"|{args.keep}" if args.keep else "")]
    cmd += ["-A"] if args.all_commits else []
    cmd += ["-a"] if args.all_branches else []
    cmd += ["-n", str(args.num)] if args.num else []
    return cmd + ["--csv"]


def filter_rows(csv_text: str, names: list[str]) -> list[list[str]]:
    """Header + the rows of `dvc exp show --csv` whose experiment name or rev is in `names`
    (all rows when `names` is empty)."""
    import csv
    import io

    rows = list(csv.reader(io.StringIO(csv_text)))
    if not rows:
        return rows
    head = rows[0]
    cols = [i for i, c in enumerate(head) if c in ("Experiment", "rev")]
    return [head] + [r for r in rows[1:]
                     if not names or any(i < len(r) and r[i] in names for i in cols)]


def _short(cell: str) -> str:
    """5 significant digits for a number (DVC's CSV carries full floats), text unchanged."""
    try:
        return cell if cell.isdigit() else f"{float(cell):.5g}"
    except ValueError:
        return cell


def shorten_numbers(rows: list[list[str]]) -> list[list[str]]:
    """Header + rows with numbers cut to 5 significant digits; the identifier columns stay text
    (a commit such as ``61629e2`` is not the number 6.1629e+06)."""
    text_cols = {i for i, c in enumerate(rows[0]) if c in ("Experiment", "rev", "Created")}
    return [rows[0]] + [[c if i in text_cols else _short(c) for i, c in enumerate(r)]
                        for r in rows[1:]]


def _run_compare(args: argparse.Namespace) -> int:
    import csv
    import subprocess

    cmd = compare_command(args)
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
    if args.csv:
        csv.writer(sys.stdout, lineterminator="\n").writerows(rows)
        return 0
    rows = shorten_numbers(rows)
    if args.md:
        for i, r in enumerate(rows):
            sys.stdout.write("| " + " | ".join(r) + " |\n")
            if i == 0:
                sys.stdout.write("|" + "---|" * len(r) + "\n")
    else:
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    return 0


#: name -> Command. Other subcommands (e.g. `lineage`) register here.
COMMANDS: dict[str, Command] = {
    "compare": Command("compare experiments on the headline metrics (`dvc exp show` with the "
                       "headline columns; -A, -a, -n and experiment names passed through)",
                       _add_compare_args, _run_compare),
    "sample": Command("print sentences sampled from a generator checkpoint",
                      _add_sample_args, _run_sample),
    "lineage": Command("print how the current model was made: inputs, md5s (as in dvc.lock), "
                       "params, metrics, git commit, MLflow runs", _add_lineage_args,
                       _run_lineage),
    "summary": Command("print the verdict (GAN vs MLE and the control, at equal diversity and "
                       "length) and the headline metrics, of the workspace or an experiment",
                       _add_summary_args, _run_summary),
    "protocol": Command("run MLE + objectives + the control x seeds on a corpus (the COCO "
                        "recipe, your files, the built-in grammar) and report the multi-seed "
                        "verdict vs MLE and vs the control", add_protocol_arguments,
                        run_protocol_command),
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
