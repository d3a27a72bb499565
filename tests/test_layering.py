"""Package layering: the data and pretrain stages sit below the condensation methods."""

from pathlib import Path

import pytest

import vidcond
from vidcond.codeversion import CodeVersions

PACKAGE = Path(vidcond.__file__).parent
LOWER = sorted(
    f"vidcond.{path.parent.name}.{path.stem}".removesuffix(".__init__")
    for folder in ("data", "pretrain")
    for path in (PACKAGE / folder).glob("*.py")
)


def test_the_lower_packages_are_found():
    assert {"vidcond.data.sampling", "vidcond.pretrain", "vidcond.pretrain.teacher", "vidcond.pretrain.experts",
            "vidcond.pretrain.interpolator", "vidcond.pretrain.diffusion"} <= set(LOWER)


@pytest.mark.parametrize("module", LOWER)
def test_data_and_pretrain_never_import_methods(module):
    reached = CodeVersions(PACKAGE).closure([module])
    assert module in reached
    assert not [m for m in reached if m == "vidcond.methods" or m.startswith("vidcond.methods.")]
