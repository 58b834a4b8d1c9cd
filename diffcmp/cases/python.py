"""Python case files: code the user chose to run, like a test file, defining ``CASE`` or
``CASES`` with SymPy losses the language cannot express."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from ..errors import CaseError
from .model import Case


def load_python(path: Path) -> list[Case]:
    """Run a Python case file (code the user chose to run, like a test file); read CASE/CASES."""
    where = str(path)
    module_name = f"_diffcmp_case_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CaseError("cannot be imported", where)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except CaseError as exc:
        raise CaseError(exc.detail, where) from None
    except Exception as exc:
        raise CaseError(f"raised {type(exc).__name__}: {exc}", where) from None
    finally:
        sys.modules.pop(module_name, None)
    found = getattr(module, "CASES", None)
    if found is None and hasattr(module, "CASE"):
        found = [module.CASE]
    if not isinstance(found, list | tuple) or not found or \
            not all(isinstance(c, Case) for c in found):
        raise CaseError("defines no CASE = diffcmp.Case(...) or CASES = [...]", where)
    for case in found:
        case.source = case.source or where
    return list(found)
