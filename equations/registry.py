"""The registry of equations, filled by importing every module of this package once."""

import importlib
import pkgutil

from equations.base import Equation

# Modules of this package that define no equation.
_INFRASTRUCTURE_MODULES = {"base", "registry", "evaluation", "decimal", "work", "sieve"}
_equations: dict[str, Equation] = {}
_discovered = False


class UnknownEquationError(LookupError):
    pass


def register(equation: Equation) -> Equation:
    existing = _equations.get(equation.key)
    if existing is not None and existing is not equation:
        raise ValueError(f"equation {equation.key!r} is registered twice")
    _equations[equation.key] = equation
    return equation


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("equations")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _INFRASTRUCTURE_MODULES:
            importlib.import_module(f"equations.{module.name}")
    _discovered = True


def get(key: str) -> Equation:
    _discover()
    try:
        return _equations[key]
    except KeyError:
        known = ", ".join(sorted(_equations)) or "none"
        raise UnknownEquationError(f"unknown equation {key!r}; known equations: {known}") from None


def all_equations() -> list[Equation]:
    _discover()
    return sorted(_equations.values(), key=lambda equation: equation.key)
