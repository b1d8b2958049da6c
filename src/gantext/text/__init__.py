"""Tokenization, vocabulary and fixed-length encoding."""
