"""An optional framework that is not installed is ``unsupported``, naming its extra."""

from __future__ import annotations

import pytest

from diffcmp.engines.optional import require
from diffcmp.errors import UnsupportedError


def test_require_imports_an_installed_module() -> None:
    assert require("json", "engines").dumps([1]) == "[1]"


def test_a_missing_module_is_unsupported_naming_the_extra() -> None:
    with pytest.raises(UnsupportedError, match=r"install diffcmp\[engines\] or "
                                               r"diffcmp\[no-such-extra\]"):
        require("diffcmp_no_such_framework", "no-such-extra")
