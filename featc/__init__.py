"""featc: one definition of ML features, compiled to point-in-time-correct SQL and a Python evaluator.

The top-level names are the notebook API; `featc.runtime` is what serving code imports (it
pulls in nothing from here).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["CompileError", "DataError", "Project", "compile_text", "evaluator", "load_project", "training_data"]

if TYPE_CHECKING:
    from .api import Project, compile_text, evaluator, load_project, training_data
    from .compiler.diagnostics import CompileError
    from .runtime.errors import DataError


def __getattr__(name: str) -> Any:
    """Imports the compiler lazily, so `import featc.runtime` stays light."""
    if name == "CompileError":
        from .compiler.diagnostics import CompileError

        return CompileError
    if name == "DataError":
        from .runtime.errors import DataError

        return DataError
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'featc' has no attribute {name!r}")
