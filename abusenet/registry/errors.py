"""Failures of the model registry, each one line naming the problem and what to do."""

from __future__ import annotations


class RegistryError(RuntimeError):
    """The model registry cannot do what was asked; the message says why, in one line."""


class UnknownVersionError(RegistryError):
    """A model version (or alias) that the registry does not hold."""


class NoProductionModelError(RegistryError):
    """No version holds the ``production`` alias yet (or nothing is left to roll back to)."""


class RegistryUnreachableError(RegistryError):
    """The tracking server or store cannot be reached or opened."""
