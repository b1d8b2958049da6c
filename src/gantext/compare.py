"""`gantext compare`: the headline figures of every experiment, drawn to fit a terminal.

It runs ``dvc exp show --csv`` with the headline columns only (:data:`COMPARE_KEEP`), fills the
name of the workspace and baseline rows (DVC leaves ``Experiment`` empty there and names them in
``rev``), and draws a table of at most ``width`` characters (120 by default): identifier columns
DVC adds (rev, Created) are left out, params get short labels (``adversarial.loss`` -> ``loss``),
metric columns are grouped under a second header line (``mle``, ``gan``, ``delta``, ...) with
4 significant digits, and when the table is still too wide the columns of least use go first
(:data:`PRIORITY`), named in a footnote. ``--wide`` draws every column DVC returned.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import sys
from pathlib import Path
from typing import Sequence

from gantext.cli import EXTRA_ROWS  # the optional model rows (summary shows them too)

#: The headline columns (a `dvc exp show --keep` regex): what was run (seed, loss) and how it
#: scored (BLEU-5, self-BLEU-5, FID, NLL of both generators; the optional rows' BLEU-5,
#: self-BLEU-5 and FID where an experiment has them).
COMPARE_KEEP = (r"^Experiment$|^rev$|^Created$|^seed$|^adversarial\.loss$"
                r"|^(mle|gan)\.(bleu5|sbleu5|fid|nll)$|^delta\.bleu5$"
                r"|^(" + "|".join(EXTRA_ROWS) + r")\.(bleu5|sbleu5|fid)$")
#: Columns DVC adds that identify a row; the name column replaces them unless --wide.
ID_COLUMNS = ("Experiment", "rev", "Created", "typ", "parent", "State", "Executor")
#: Short labels of param columns.
LABELS = {"adversarial.loss": "loss"}
#: Which columns stay when the table must shrink, most useful first (regexes; columns matching
#: none come last, in DVC's order). The name column always stays.
PRIORITY = (r"^adversarial\.loss$", r"^(mle|gan)\.bleu5$", r"^(mle|gan)\.sbleu5$",
            r"^delta\.bleu5$", r"^(mle|gan)\.fid$", r"^seed$", r"^(mle|gan)\.nll$")
#: Left-to-right order of the drawn columns (the user's --keep columns and the optional rows
#: after these).
ORDER = (r"^seed$", r"^adversarial\.loss$", r"^mle\.", r"^gan\.", r"^delta\.")
NAME_WIDTH = 24  # longer experiment names are cut with "…"
MIN_NAME_WIDTH = 14  # ... and down to this before a figure column is left out
DEFAULT_WIDTH = 120
GAP = 2


def dvc_command(all_commits: bool = False, all_branches: bool = False, num: str | None = None,
                keep: str | None = None) -> list[str]:
    """The `dvc exp show --csv` command line (names are filtered and the table drawn afterwards:
    DVC's own table elides columns ("…") to fit the terminal)."""
    dvc = Path(sys.executable).with_name("dvc")
    cmd = [str(dvc) if dvc.is_file() else (shutil.which("dvc") or "dvc"), "exp", "show",
           "--no-pager", "--drop", ".*", "--keep", COMPARE_KEEP + (f"|{keep}" if keep else "")]
    cmd += ["-A"] if all_commits else []
    cmd += ["-a"] if all_branches else []
    cmd += ["-n", str(num)] if num else []
    return cmd + ["--csv"]


def filter_rows(csv_text: str, names: Sequence[str]) -> list[list[str]]:
    """Header + the rows of `dvc exp show --csv` whose experiment name or rev is in `names`
    (all rows when `names` is empty)."""
    rows = list(csv.reader(io.StringIO(csv_text)))
    if not rows:
        return rows
    head = rows[0]
    cols = [i for i, c in enumerate(head) if c in ("Experiment", "rev")]
    return [head] + [r for r in rows[1:]
                     if not names or any(i < len(r) and r[i] in names for i in cols)]


def fill_names(rows: list[list[str]]) -> list[list[str]]:
    """The ``Experiment`` cell of the workspace and baseline rows filled from ``rev``
    (``workspace``, ``main``, a commit), so every row has a name."""
    if not rows or "Experiment" not in rows[0] or "rev" not in rows[0]:
        return rows
    e, r = rows[0].index("Experiment"), rows[0].index("rev")
    return [rows[0]] + [[*row[:e], row[e] or row[r], *row[e + 1:]] for row in rows[1:]]


def short_number(cell: str, digits: int = 4, signed: bool = False) -> str:
    """`digits` significant digits for a number (DVC's CSV carries full floats); integers and
    text unchanged."""
    if not cell or cell.lstrip("-").isdigit():
        return cell
    try:
        value = float(cell)
    except ValueError:
        return cell
    # '#': trailing zeros kept (0.7600, not 0.76), so a column reads at one precision
    return f"{value:+#.{digits}g}" if signed else f"{value:#.{digits}g}"


def shorten_numbers(rows: list[list[str]], digits: int = 5) -> list[list[str]]:
    """Header + rows with numbers cut to `digits` significant digits; the identifier columns
    stay text (a commit such as ``61629e2`` is not the number 6.1629e+06)."""
    text_cols = {i for i, c in enumerate(rows[0]) if c in ID_COLUMNS}
    return [rows[0]] + [[c if i in text_cols else short_number(c, digits)
                         for i, c in enumerate(r)] for r in rows[1:]]


def _rank(col: str, patterns: Sequence[str]) -> int:
    return next((i for i, p in enumerate(patterns) if re.search(p, col)), len(patterns))


def _split(col: str) -> tuple[str, str]:
    """(group, label) of a column: ``mle.bleu5`` -> (mle, bleu5); params get their short label."""
    if col in LABELS or col == "seed":
        return "", LABELS.get(col, col)
    group, _, label = col.partition(".")
    return (group, label) if label else ("", col)


def _is_text(cell: str) -> bool:
    """A cell that is not a number (DVC's "!" / "-" for a missing value do not count)."""
    if cell in ("", "!", "-"):
        return False
    try:
        float(cell)
    except ValueError:
        return True
    return False


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def draw(rows: list[list[str]], width: int | None = DEFAULT_WIDTH) -> tuple[list[str], list[str]]:
    """(lines of the table, columns left out to fit `width`) for header + rows from
    :func:`fill_names`; `width` None keeps every column."""
    head = rows[0]
    name_i = head.index("Experiment") if "Experiment" in head else None
    cols = [i for i, c in enumerate(head) if c not in ID_COLUMNS]
    cols.sort(key=lambda i: (_rank(head[i], ORDER), i))
    deltas = {i for i in cols if head[i].startswith("delta.")}
    names = [r[name_i] if name_i is not None and name_i < len(r) else "" for r in rows[1:]]
    body = [[name] + [short_number(r[i], signed=i in deltas) if i < len(r) else "" for i in cols]
            for name, r in zip(names, rows[1:])]
    labels = [_split(head[i]) for i in cols]
    widths = [min(NAME_WIDTH, max([len("experiment")] + [len(b[0]) for b in body]))]
    widths += [max([len(labels[k][1])] + [len(b[k + 1]) for b in body]) for k in range(len(cols))]

    keep = list(range(len(cols)))
    # text columns (the loss) read left-aligned, numbers right-aligned
    text = {k for k in keep if any(_is_text(b[k + 1]) for b in body)}
    left_out: list[str] = []
    if width is not None:
        by_use = sorted(keep, key=lambda k: (_rank(head[cols[k]], PRIORITY), k))
        spare = widths[0] - max(MIN_NAME_WIDTH, len("experiment"))  # the name may give this
        while keep and widths[0] + sum(widths[k + 1] + GAP for k in keep) > width:
            over = widths[0] + sum(widths[k + 1] + GAP for k in keep) - width
            if over <= spare:  # cutting names is enough: every figure stays
                widths[0] -= over
                break
            drop = by_use.pop()
            keep.remove(drop)
            left_out.append(head[cols[drop]])
    # the group line: each group's name over its run of columns, then dashes
    group_line, label_line = f"{'':<{widths[0]}}", f"{'experiment':<{widths[0]}}"
    runs: list[tuple[str, list[int]]] = []
    for k in keep:
        if runs and labels[k][0] and runs[-1][0] == labels[k][0]:
            runs[-1][1].append(k)
        else:
            runs.append((labels[k][0], [k]))
    for group, ks in runs:
        span = sum(widths[k + 1] for k in ks) + GAP * (len(ks) - 1)
        group_line += " " * GAP + (_cut(group + " ", span).ljust(span, "-") if group
                                   else " " * span)
    for k in keep:
        w = widths[k + 1]
        label_line += " " * GAP + (labels[k][1].ljust(w) if k in text else labels[k][1].rjust(w))
    lines = [group_line.rstrip(), label_line]
    for b in body:
        lines.append(f"{_cut(b[0], widths[0]):<{widths[0]}}" + "".join(
            "  " + (b[k + 1].ljust(widths[k + 1]) if k in text else b[k + 1].rjust(widths[k + 1]))
            for k in keep))
    return [ln.rstrip() for ln in lines], left_out


def render(rows: list[list[str]], fmt: str = "table", width: int | None = DEFAULT_WIDTH) -> str:
    """The output of `gantext compare` for header + rows of `dvc exp show --csv`: ``table``
    (fitted to `width`; None = every column, DVC's identifier columns too), ``md`` or ``csv``
    (every column, names filled)."""
    rows = fill_names(rows)
    out = io.StringIO()
    if fmt == "csv":
        csv.writer(out, lineterminator="\n").writerows(rows)
        return out.getvalue()
    if fmt == "md":
        rows = shorten_numbers(rows)
        keep = [i for i, c in enumerate(rows[0]) if c not in ID_COLUMNS or c == "Experiment"]
        for n, r in enumerate(rows):
            out.write("| " + " | ".join(r[i] if i < len(r) else "" for i in keep) + " |\n")
            if n == 0:
                out.write("|" + "---|" * len(keep) + "\n")
        return out.getvalue()
    if width is None:  # --wide: every column under its full name
        rows = shorten_numbers(rows)
        widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
        return out.getvalue()
    lines, left_out = draw(rows, width)
    out.write("\n".join(lines) + "\n")
    if left_out:
        import textwrap

        note = (f"({len(left_out)} more column{'s' if len(left_out) > 1 else ''} left out to "
                f"fit {width} characters: {', '.join(left_out)}; --wide shows them)")
        out.write("\n".join(textwrap.wrap(note, width)) + "\n")
    return out.getvalue()
