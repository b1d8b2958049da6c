"""gantext: a reproducible laboratory for text GANs."""

__version__ = "0.1.0"
