"""Tiny encoded rows shared by the objective tests (no corpus needed), and shared test marks."""

import pytest
import torch

from gantext.runtime import bf16_lstm_supported
from gantext.text.vocab import EOS_ID, PAD_ID

#: bf16 training tests need a CPU with oneDNN's bf16 LSTM (AVX-512); elsewhere the stages fall
#: back to fp32 (tested in test_runtime.py) and these tests have nothing to measure
needs_bf16_lstm = pytest.mark.skipif(not bf16_lstm_supported("cpu"),
                                     reason="this CPU has no bf16 LSTM kernel (oneDNN needs AVX-512)")


def toy_rows(n: int, max_len: int, vocab_size: int) -> torch.Tensor:
    """`n` encoded rows of width ``max_len + 1``: lengths 1..max_len cycling, word ids >= 4,
    then ``<eos>`` and ``<pad>`` (the encoding contract of gantext.text.vocab)."""
    rows = torch.full((n, max_len + 1), PAD_ID, dtype=torch.long)
    for i in range(n):
        k = 1 + i % max_len
        rows[i, :k] = 4 + (i + torch.arange(k)) % (vocab_size - 4)
        rows[i, k] = EOS_ID
    return rows


def tiny_objective(name: str, **section):
    """Objective `name` on a tiny LSTM G and CNN D (an LSTM D without dropout for an objective
    that needs a score per prefix) (vocabulary 10, max length 6, CPU, seed 0),
    its own ``adversarial.<section>`` settings replaced by `section`."""
    import dataclasses

    from gantext.config import AdversarialConfig
    from gantext.models.discriminator import Discriminator, DiscriminatorSpec
    from gantext.models.generator import GeneratorSpec, build_generator
    from gantext.objectives import OBJECTIVES

    torch.manual_seed(0)
    cls = OBJECTIVES[name]
    g = build_generator(GeneratorSpec(vocab_size=10, embed_dim=8, hidden_dim=16, max_len=6))
    d = Discriminator(DiscriminatorSpec(vocab_size=10, embed_dim=8, kernel_sizes=(2, 3),
                                        num_filters=6))
    if cls.prefix_discriminator:  # an objective that needs a score per prefix (scratchgan)
        from gantext.models.discriminator import build_discriminator

        d = build_discriminator({"arch": cls.prefix_discriminator, "vocab_size": 10,
                                 "embed_dim": 8, "hidden_dim": 12, "dropout": 0.0})
    cfg = AdversarialConfig(loss=name, steps=10, device="cpu")
    cfg = dataclasses.replace(cfg, **{cls.section: dataclasses.replace(
        getattr(cfg, cls.section), **section)})
    return cls(g, d, cfg, 6, torch.device("cpu"), torch.Generator().manual_seed(0))
