"""The package version, in one place (``advisor.__version__`` re-exports it)."""

__version__ = "0.1.0"
