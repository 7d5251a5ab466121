"""abusenet: graph-based abuse-network detection."""

__version__ = "0.1.0"
