"""newswatch: a topic-monitoring news pipeline (CLI and settings live here)."""

__all__ = ["__version__"]
__version__ = "0.1.0"
