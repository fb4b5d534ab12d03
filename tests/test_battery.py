"""Every catalogued layer passes every check of kcv.testing on this backend (models: tests/test_models.py)."""

import pytest

from kcv import catalogue
from kcv import testing


@pytest.mark.parametrize("check", testing.CHECKS)
@pytest.mark.parametrize("case", catalogue.LAYER_CASES, ids=lambda c: c.name)
def test_layer_battery(case, check):
    (result,) = testing.run_checks(case, [check])
    if result.status == testing.SKIPPED:
        pytest.skip(result.message)
    assert result.status == testing.PASSED, result.message


@pytest.mark.backend_independent
def test_every_public_layer_is_catalogued():
    import kcv

    catalogued = {c.layer_cls.__name__ for c in catalogue.LAYER_CASES}
    missing = set(kcv.layers.__all__) - catalogued
    assert not missing, f"add these layers to kcv/catalogue.py: {sorted(missing)}"


@pytest.mark.backend_independent
def test_catalogue_names_are_unique():
    names = [c.name for c in catalogue.CASES]
    assert len(names) == len(set(names))
    assert catalogue.case(names[0]) is catalogue.CASES[0]
    with pytest.raises(ValueError, match="`name` must be one of"):
        catalogue.case("no_such_layer")
