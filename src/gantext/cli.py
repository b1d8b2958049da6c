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
#: the headline rows of `gantext summary` (keys of metrics/evaluate.json)
SUMMARY_KEYS = ("bleu2", "bleu3", "bleu4", "bleu5", "sbleu2", "sbleu3", "sbleu4", "sbleu5",
                "fid", "fid_floor", "nll", "nll_anchor", "validity", "oracle_nll_token",
                "oracle_nll_gap", "oracle_invalid", "mode_js", "n_samples", "n_refs")
#: the real row's counterpart of a model's figure (its FID is the floor at the models' n)
_REAL_KEY = {"fid": "fid_floor"}
#: the optional model rows the evaluate stage adds (``evaluate.length_match``: both generators
#: drawn at the training lengths; ``evaluate.d_resample``: the GAN's samples reweighted by its D),
#: shown after the real row when the file has them
EXTRA_ROWS = ("mle_lm", "gan_lm", "d_resample")


def _add_summary_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metrics", default="metrics/evaluate.json",
                   help="the evaluate stage's metrics file (default: %(default)s)")


def summary_table(metrics: dict) -> str:
    """A compact metric x (mle, gan, delta, real, then any of :data:`EXTRA_ROWS`) table of
    evaluate.json's headline keys.

    A delta is marked ``*`` only when its bootstrap 95% interval (``delta.<key>_lo`` ..
    ``_hi``) excludes 0; the interval is printed beside it. Deltas without an interval (NLL,
    validity, grammar figures) are never marked. The real row's ``fid`` line shows
    ``real.fid_floor``: FID of a real sample of the models' size, the exact counterpart.
    """
    from gantext.metrics.bootstrap import significant

    cols = [c for c in ("mle", "gan", "delta", "real", *EXTRA_ROWS)
            if isinstance(metrics.get(c), dict)]
    delta = metrics.get("delta") if isinstance(metrics.get("delta"), dict) else {}

    def get(c: str, k: str) -> object:
        if c == "real" and k in _REAL_KEY:
            return metrics[c].get(_REAL_KEY[k])
        return metrics[c].get(k)

    rows = [k for k in SUMMARY_KEYS if any(get(c, k) is not None for c in cols)
            and not (k == "fid_floor" and "real" in cols)]

    def fmt(v: object) -> str:
        if v is None:
            return "-"
        return f"{v:.4f}" if isinstance(v, float) else str(v)

    has_ci = any(k.endswith("_lo") for k in delta)
    width = {c: max(10, len(c) + 2) for c in cols}  # d_resample is 10 characters wide
    lines = [f"{'metric':<16}" + "".join(f"{c:>{width[c]}}" for c in cols)
             + ("   delta 95% interval" if has_ci else "")]
    marked = False
    for k in rows:
        cells = []
        for c in cols:
            v = fmt(get(c, k))
            if c == "delta" and significant(delta, k):
                v, marked = v + "*", True
            cells.append(f"{v:>{width[c]}}")
        ci = (f"   [{delta[k + '_lo']:.4f}, {delta[k + '_hi']:.4f}]"
              if significant(delta, k) is not None else "")
        lines.append(f"{k:<16}" + "".join(cells) + ci)
    proto = metrics.get("protocol")
    if isinstance(proto, dict) and "ci_resamples" in proto:
        lines.append(f"* = the delta's bootstrap {proto.get('ci_level', 0.95):.0%} interval "
                     f"({proto['ci_resamples']} resamples) excludes 0"
                     + ("" if marked else " (none here)") + "; real = "
                     + f"{proto.get('real_sample_from', 'held-out')} sentences at the models' n")
    elif "delta" in cols:
        lines.append("no intervals in this file (an older evaluate.json): no delta is marked "
                     "significant")
    return "\n".join(lines) + "\n"


def _run_summary(args: argparse.Namespace) -> int:
    from gantext.io import read_json

    path = Path(args.metrics)
    if not path.is_file():
        raise DataError(f"{path}: not found; run the pipeline first (`dvc repro`)")
    sys.stdout.write(summary_table(read_json(path)))
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
    "summary": Command("print the headline evaluation metrics (MLE, GAN, delta, real data)",
                       _add_summary_args, _run_summary),
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
