"""The package version, in a module of its own so that any module can read it without importing
the package (whose ``__init__`` imports the API, which imports the search)."""

__version__ = "0.2.0"
