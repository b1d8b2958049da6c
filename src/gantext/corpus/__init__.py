"""gantext.corpus."""
