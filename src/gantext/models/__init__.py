"""Generators behind a registry (``models/generator.py``: lstm, relational-memory), the shared
protocol (``base.py``), the one sampler and decoding loop (``sampling.py``), and the CNN discriminator."""
