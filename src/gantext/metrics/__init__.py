"""gantext.metrics."""
