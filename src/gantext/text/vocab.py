"""Vocabulary: token <-> id, with fixed special ids shared by every model.

Encoded sentence layout (the contract between tokenize, the models and evaluate): an int32 row
of width ``max_len + 1`` holding the tokens, then ``<eos>``, then ``<pad>`` up to the width.
``<bos>`` is never stored; models prepend it.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


@dataclass(frozen=True)
class Vocab:
    """An ordered token list; ids are positions. The first four are the specials."""

    itos: tuple[str, ...]
    level: str = "word"

    def __post_init__(self) -> None:
        if tuple(self.itos[:4]) != SPECIALS:
            raise ValueError(f"vocabulary must start with {SPECIALS}")
        object.__setattr__(self, "_stoi", {t: i for i, t in enumerate(self.itos)})

    def __len__(self) -> int:
        return len(self.itos)

    @property
    def stoi(self) -> dict[str, int]:
        return self._stoi  # type: ignore[attr-defined]

    @property
    def hash(self) -> str:
        """sha256 of the token list and level: checkpoints record it to refuse foreign data."""
        payload = json.dumps({"level": self.level, "itos": list(self.itos)}, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def ids(self, tokens: Sequence[str]) -> list[int]:
        stoi = self.stoi
        return [stoi.get(t, UNK_ID) for t in tokens]

    def tokens(self, ids: Iterable[int], stop_at_eos: bool = True) -> list[str]:
        """ids -> tokens, dropping <pad>/<bos> and stopping at <eos>."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS_ID and stop_at_eos:
                break
            if i in (PAD_ID, BOS_ID):
                continue
            out.append(self.itos[i])
        return out

    def decode(self, ids: Iterable[int]) -> str:
        """ids -> a readable sentence (tokens joined by spaces, or concatenated for char level)."""
        sep = "" if self.level == "char" else " "
        return sep.join(self.tokens(ids))

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], min_freq: int = 1, max_size: int = 0,
              level: str = "word") -> "Vocab":
        """Most frequent tokens first (ties broken alphabetically, so the order is deterministic)."""
        counts = Counter(t for s in sentences for t in s)
        items = [(t, c) for t, c in counts.items() if c >= min_freq and t not in SPECIALS]
        items.sort(key=lambda tc: (-tc[1], tc[0]))
        if max_size:
            items = items[:max_size]
        return cls(tuple(SPECIALS) + tuple(t for t, _ in items), level=level)

    def to_json(self) -> dict:
        return {"level": self.level, "itos": list(self.itos), "hash": self.hash}

    @classmethod
    def from_json(cls, data: dict) -> "Vocab":
        return cls(tuple(data["itos"]), level=data.get("level", "word"))

    @classmethod
    def load(cls, path: str | Path) -> "Vocab":
        """Read vocab.json; a truncated or foreign file is a DataError naming it."""
        from gantext.errors import DataError

        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("itos"), list) or not all(
                    isinstance(t, str) for t in data["itos"]):
                raise ValueError("expected an object with a list of token strings under 'itos'")
            vocab = cls.from_json(data)
            if len(set(vocab.itos)) != len(vocab.itos):
                raise ValueError("a token appears twice")
        except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
            raise DataError(f"{path}: not a valid vocabulary ({str(exc).splitlines()[0]}); the "
                            "file is damaged or truncated: re-run the tokenize stage "
                            "(`dvc repro -f tokenize`)") from None
        if "hash" in data and data["hash"] != vocab.hash:
            raise DataError(f"{path}: its recorded hash does not match its tokens (edited or "
                            "damaged); re-run the tokenize stage (`dvc repro -f tokenize`)")
        return vocab


def encode(vocab: Vocab, sentences: Sequence[Sequence[str]], max_len: int) -> tuple[np.ndarray, int]:
    """Token lists -> int32 array (n, max_len + 1) of tokens, <eos>, <pad>...; returns (array, truncated)."""
    arr = np.full((len(sentences), max_len + 1), PAD_ID, dtype=np.int32)
    truncated = 0
    for r, toks in enumerate(sentences):
        ids = vocab.ids(toks)
        if len(ids) > max_len:
            truncated += 1
            ids = ids[:max_len]
        arr[r, : len(ids)] = ids
        arr[r, len(ids)] = EOS_ID
    return arr, truncated


def lengths(arr: np.ndarray) -> np.ndarray:
    """Number of real tokens (without <eos>) per encoded row."""
    return np.argmax(arr == EOS_ID, axis=1)
