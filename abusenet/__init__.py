"""abusenet: graph-based abuse-network detection."""

from importlib.metadata import version

__version__ = version("abusenet")
