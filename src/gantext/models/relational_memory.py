"""RelGAN's generator (Nie et al., 2019): a relational memory core (Santoro et al., 2018).

``model.generator.arch: relational-memory``. The memory is ``mem_slots`` rows of
``num_heads * head_size`` units. Each step the embedded token (projected to the memory width)
joins the memory as one more row; multi-head dot-product attention of every row over all of
them, then a 2-layer MLP, each with a residual connection and layer norm, propose the next
memory; LSTM-style gates per unit (input bias 0, forget bias 1) mix it with the old one. The
flattened memory feeds the vocabulary head. Defaults are the RelGAN paper's (1 slot, 2 heads,
head size 256; RelGAN embeds tokens in 32 dims, here ``model.generator.embed_dim``); the memory
starts as the identity (row i = e_i, zero-padded), as in the relational memory paper. Teacher
forcing runs the cell step by step (no fused kernel exists for it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from gantext.configfields import param
from gantext.models.base import Generator, State


@dataclass(frozen=True)
class RelationalMemoryConfig:
    """Relational memory settings (``model.generator.relational_memory``)."""

    mem_slots: int = param(1, ge=1, help="memory rows (RelGAN: 1)")
    num_heads: int = param(2, ge=1, help="attention heads (RelGAN: 2)")
    head_size: int = param(256, ge=1, help="units per head; memory width = heads x head size")


@dataclass(frozen=True)
class RelationalMemorySpec:
    """Everything needed to rebuild the module (stored in checkpoints as a plain dict)."""

    vocab_size: int
    embed_dim: int = 32
    mem_slots: int = 1
    num_heads: int = 2
    head_size: int = 256
    dropout: float = 0.0
    max_len: int | None = None


class RelationalMemoryGenerator(Generator):
    """Embedding -> relational memory core -> linear head; state ``(memory,)`` (B, slots, width)."""

    arch = "relational-memory"
    Spec = RelationalMemorySpec
    config = RelationalMemoryConfig
    state_batch_dim = 0

    def __init__(self, spec: RelationalMemorySpec):
        super().__init__(spec)
        width = spec.num_heads * spec.head_size
        self.width = width
        self.embedding = nn.Embedding(spec.vocab_size, spec.embed_dim)
        self.input_proj = nn.Linear(spec.embed_dim, width)
        self.qkv = nn.Linear(width, 3 * width)
        self.qkv_norm = nn.LayerNorm(3 * width)
        self.attend_norm = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.ReLU(), nn.Linear(width, width))
        self.mlp_norm = nn.LayerNorm(width)
        self.gate_input = nn.Linear(width, 2 * width)
        self.gate_memory = nn.Linear(width, 2 * width)
        self.drop = nn.Dropout(spec.dropout)
        self.head = nn.Linear(spec.mem_slots * width, spec.vocab_size)

    @classmethod
    def spec_from_config(cls, vocab_size: int, max_len: int, cfg: Any) -> RelationalMemorySpec:
        rm = cfg.relational_memory
        return RelationalMemorySpec(vocab_size=vocab_size, embed_dim=cfg.embed_dim,
                                    mem_slots=rm.mem_slots, num_heads=rm.num_heads,
                                    head_size=rm.head_size, dropout=cfg.dropout, max_len=max_len)

    def initial_memory(self, batch: int) -> torch.Tensor:
        """(batch, slots, width): row i is the i-th unit vector (truncated or zero-padded)."""
        eye = torch.eye(self.spec.mem_slots, max(self.width, self.spec.mem_slots),
                        device=self.device)[:, :self.width]
        return eye.unsqueeze(0).expand(batch, -1, -1)

    def _attend(self, rows: torch.Tensor) -> torch.Tensor:
        """Multi-head dot-product attention of every row over all rows (B, N, width)."""
        b, n, _ = rows.shape
        h, d = self.spec.num_heads, self.spec.head_size
        q, k, v = self.qkv_norm(self.qkv(rows)).view(b, n, 3, h, d).permute(2, 0, 3, 1, 4)
        weights = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d), dim=-1)
        return (weights @ v).transpose(1, 2).reshape(b, n, h * d)

    def _cell(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """One memory update from the projected input x (B, width)."""
        rows = torch.cat([memory, x.unsqueeze(1)], dim=1)
        rows = self.attend_norm(rows + self._attend(rows))
        rows = self.mlp_norm(rows + self.mlp(rows))
        proposal = rows[:, :-1]
        gates = self.gate_input(x).unsqueeze(1) + self.gate_memory(torch.tanh(memory))
        i, f = gates.chunk(2, dim=-1)
        return torch.sigmoid(i) * torch.tanh(proposal) + torch.sigmoid(f + 1.0) * memory

    def step(self, tokens: torch.Tensor, state: State | None) -> tuple[torch.Tensor, State]:
        memory = self.initial_memory(len(tokens)) if state is None else state[0]
        memory = self._cell(self.input_proj(self.drop(self.embedding(tokens))), memory)
        return self.head_logits(self.drop(memory.flatten(1))), (memory,)

    def forward(self, inputs: torch.Tensor, state: State | None = None
                ) -> tuple[torch.Tensor, State]:
        # Embedding, projection and head over all positions at once; only the cell is a loop.
        x = self.input_proj(self.drop(self.embedding(inputs)))
        memory = self.initial_memory(len(inputs)) if state is None else state[0]
        outs = []
        for t in range(inputs.shape[1]):
            memory = self._cell(x[:, t], memory)
            outs.append(memory.flatten(1))
        return self.masked_(self.head(self.drop(torch.stack(outs, dim=1)))), (memory,)
