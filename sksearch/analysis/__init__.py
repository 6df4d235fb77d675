"""Analyses of trained models: SK attention against object scale (the paper's Section 5)."""
