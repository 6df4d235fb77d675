"""sksearch: multi-objective architecture and hyper-parameter search for Selective Kernel networks."""

__version__ = "0.1.0"
