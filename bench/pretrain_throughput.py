"""Pretraining throughput: our generator's training step vs a per-time-step LSTMCell loop.

    python bench/pretrain_throughput.py [--params params.yaml] [--batches 30] [--threads 1]

Both sides train the same model sizes (model.generator from params) on the same batches
(pretrain.batch_size rows of data/processed/train.npy, or synthetic rows of the same width when
the tokenize stage has not run) with the same loss and an Adam step, and are timed in this one
run. Prints train tokens/s (real tokens incl. <eos>) for each and the ratio. Not a test: never
asserted, wall-clock only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from gantext.config import load_params  # noqa: E402
from gantext.data import iterate_batches  # noqa: E402
from gantext.models.generator import GeneratorSpec, build_generator  # noqa: E402
from gantext.paths import repo_paths  # noqa: E402
from gantext.text.vocab import BOS_ID, EOS_ID, PAD_ID  # noqa: E402


class CellLoopLM(nn.Module):
    """The straightforward reference: embedding, a stack of LSTMCells stepped in Python over the
    full fixed width, a linear head, cross-entropy with <pad> ignored."""

    def __init__(self, spec: GeneratorSpec):
        super().__init__()
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        dims = [spec.embed_dim] + [spec.hidden_dim] * spec.num_layers
        self.cells = nn.ModuleList(nn.LSTMCell(dims[i], dims[i + 1])
                                   for i in range(spec.num_layers))
        self.head = nn.Linear(spec.hidden_dim, spec.vocab_size)

    def nll(self, targets: torch.Tensor) -> tuple[torch.Tensor, int]:
        b, w = targets.shape
        inputs = torch.cat([torch.full_like(targets[:, :1], BOS_ID), targets[:, :-1]], dim=1)
        states = [None] * len(self.cells)
        total = torch.zeros(())
        for t in range(w):
            x = self.embedding(inputs[:, t])
            for i, cell in enumerate(self.cells):
                states[i] = cell(x, states[i])
                x = states[i][0]
            total = total + F.cross_entropy(self.head(x), targets[:, t], ignore_index=PAD_ID,
                                            reduction="sum")
        return total, int((targets != PAD_ID).sum())


def synthetic_rows(n: int, width: int, vocab_size: int, g: torch.Generator) -> torch.Tensor:
    """Rows in the encoding layout with lengths spread over 3..width-1 (used without data)."""
    rows = torch.full((n, width), PAD_ID, dtype=torch.long)
    lens = torch.randint(3, width, (n,), generator=g)
    for r, k in enumerate(lens.tolist()):
        rows[r, :k] = torch.randint(4, vocab_size, (k,), generator=g)
        rows[r, k] = EOS_ID
    return rows


def time_training(model: nn.Module, batches: list[torch.Tensor], lr: float, clip: float) -> float:
    """Tokens/s of nll + backward + clip + Adam over `batches` (after one warm-up batch)."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step(batch: torch.Tensor) -> int:
        s, k = model.nll(batch)
        opt.zero_grad(set_to_none=True)
        (s / k).backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        return k

    step(batches[0])
    t0 = time.perf_counter()
    tokens = sum(step(b) for b in batches)
    return tokens / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--batches", type=int, default=30, help="timed batches per side")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    params = load_params(args.params)
    paths = repo_paths()
    g = torch.Generator().manual_seed(0)
    if paths.encoded("train").is_file() and paths.vocab.is_file():
        import numpy as np

        from gantext.text.vocab import Vocab

        data = torch.from_numpy(np.load(paths.encoded("train")).astype(np.int64))
        vocab_size, source = len(Vocab.load(paths.vocab)), str(paths.encoded("train"))
    else:
        vocab_size, width = 200, params.tokenize.max_len + 1
        data = synthetic_rows(params.pretrain.batch_size * (args.batches + 1), width, vocab_size, g)
        source = f"synthetic rows (vocab {vocab_size}, width {width})"
    bs = params.pretrain.batch_size
    batches = list(iterate_batches(data, bs, generator=g, drop_last=True))[: args.batches + 1]
    gc = params.model.generator
    spec = GeneratorSpec(vocab_size=vocab_size, embed_dim=gc.embed_dim, hidden_dim=gc.hidden_dim,
                         num_layers=gc.num_layers, dropout=0.0)

    torch.manual_seed(0)
    ours = time_training(build_generator(spec), batches, params.pretrain.lr, params.pretrain.grad_clip)
    torch.manual_seed(0)
    ref = time_training(CellLoopLM(spec), batches, params.pretrain.lr, params.pretrain.grad_clip)
    real = sum(int((b != PAD_ID).sum()) for b in batches[1:]) / (len(batches) - 1)
    print(f"data: {source}; batch {bs}, {real:.0f} real tokens/batch of width {batches[0].shape[1]}")
    print(f"model: embed {gc.embed_dim}, hidden {gc.hidden_dim}, layers {gc.num_layers}, "
          f"vocab {vocab_size}; torch threads {torch.get_num_threads()}")
    print(f"generator (nn.LSTM over packed rows):  {ours:10.0f} train tokens/s")
    print(f"reference (LSTMCell loop, full width):  {ref:10.0f} train tokens/s")
    print(f"ratio: {ours / ref:.2f}x")


if __name__ == "__main__":
    main()
