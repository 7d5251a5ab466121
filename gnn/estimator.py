"""The estimator base of the detector and the baselines: parameters read from the signature.

As in scikit-learn, an estimator's ``__init__`` stores every argument unchanged under its own
name, so :meth:`Estimator.get_params` can read them back by the names of the signature and
``type(est)(**est.get_params())`` builds an unfitted copy. Fitted state lives in attributes
ending in ``_``.
"""

from __future__ import annotations

import inspect
from typing import Any, Self


class NotFittedError(RuntimeError):
    """A scoring method was called before ``fit`` or ``load``."""


class Estimator:
    """Parameters from the ``__init__`` signature: ``get_params``, ``set_params``, a short repr.

    Subclasses take only named parameters (no ``*args`` or ``**kwargs``) and store each one as
    an attribute of the same name.
    """

    @classmethod
    def param_names(cls) -> list[str]:
        """The constructor's parameter names, in signature order.

        Raises
        ------
        TypeError
            If the constructor takes ``*args`` or ``**kwargs``.
        """
        if cls.__init__ is object.__init__:
            return []
        names = []
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if name == "self":
                continue
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                raise TypeError(
                    f"{cls.__name__}.__init__ takes *{name}: an estimator names every parameter"
                )
            names.append(name)
        return names

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        parameters = inspect.signature(cls.__init__).parameters
        return {
            name: _plain(parameters[name].default)
            for name in cls.param_names()
            if parameters[name].default is not inspect.Parameter.empty
        }

    def get_params(self, deep: bool = False) -> dict[str, Any]:
        """The constructor arguments, by name (tuples as lists, so the result is JSON-like).

        Parameters
        ----------
        deep
            Accepted for scikit-learn compatibility; no parameter is itself an estimator.
        """
        return {name: _plain(getattr(self, name)) for name in self.param_names()}

    def set_params(self, **params: Any) -> Self:
        """Change parameters by name; returns ``self``.

        Raises
        ------
        ValueError
            If a name is not a constructor parameter (the known ones are listed).
        """
        known = self.param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for {type(self).__name__}; "
                f"known parameters are {known}"
            )
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = self._defaults()
        changed = [
            f"{name}={value!r}"
            for name, value in self.get_params().items()
            if name not in defaults or not _same(value, defaults[name])
        ]
        return f"{type(self).__name__}({', '.join(changed)})"


def _plain(value: Any) -> Any:
    """Tuples as lists (parameters compare equal to values read from JSON or YAML)."""
    return list(value) if isinstance(value, tuple) else value


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except (TypeError, ValueError):
        return a is b
