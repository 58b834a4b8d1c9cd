"""Cases: the model (:mod:`~diffcmp.cases.model`), its values (listed or generated), the
``[sweep]`` table, the TOML and Python loaders, and discovery of case files in folders."""

from .discovery import discover, load_case, load_cases
from .model import MAX_CASE_ELEMENTS, Case, Sample
from .sweep import DEFAULT_SIZES, Sweep
from .toml import MAX_FILE_BYTES, MAX_TOML_VALUES
from .values import MAX_ARRAY_ELEMENTS

__all__ = ["DEFAULT_SIZES", "MAX_ARRAY_ELEMENTS", "MAX_CASE_ELEMENTS", "MAX_FILE_BYTES",
           "MAX_TOML_VALUES", "Case", "Sample", "Sweep", "discover", "load_case", "load_cases"]
