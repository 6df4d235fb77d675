"""sksearch: multi-objective architecture and hyper-parameter search for Selective Kernel networks."""

__version__ = "0.1.0"


def load_model(folder: str, map_location: str = "cpu"):  # noqa: ANN201 - torch is imported lazily
    """The network of an export folder (``sksearch export`` / ``sksearch build``), in eval mode."""
    from .export import load_model as _load

    return _load(folder, map_location)


__all__ = ["__version__", "load_model"]
