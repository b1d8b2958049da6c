"""gantext.training."""
