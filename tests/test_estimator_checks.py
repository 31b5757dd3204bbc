"""scikit-learn's data-free estimator checks, run on every public pyvad estimator.

Estimators are discovered by walking the package, so a new public estimator is
checked without anyone having to remember to list it here.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils import estimator_checks

import pyvad

DATA_FREE_CHECKS = [
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_parameters_default_constructible",
    "check_estimator_repr",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_mixin_order",
    "check_estimator_cloneable",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
]


def public_estimators() -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(pyvad.__path__, prefix="pyvad."):
        if info.name.split(".")[-1].startswith("_"):
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and obj.__module__ == module.__name__
                and not name.startswith("_")
                and not inspect.isabstract(obj)
                and not name.startswith("Base")
            ):
                found[f"{obj.__module__}.{name}"] = obj
    return [found[k] for k in sorted(found)]


ESTIMATORS = public_estimators()


def test_discovery_finds_the_known_estimators():
    names = {cls.__name__ for cls in ESTIMATORS}
    assert {"MotionBaselineDetector", "ScoreFusion"} <= names


@pytest.mark.parametrize("check_name", DATA_FREE_CHECKS)
@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_data_free_sklearn_checks_pass(cls, check_name):
    check = getattr(estimator_checks, check_name)
    check(cls.__name__, cls())
