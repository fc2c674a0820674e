"""Drift statistics: pure numpy/scipy functions over feature matrices, returning frozen dataclasses.

The reference side of every test is prepared once (at upload, ``references``) and stored; a drift run only sorts the
window (``numeric``, ``categorical``, ``prediction``). Tests are looked up by name in ``registry`` (KS in
``kolmogorov``, PSI and Jensen-Shannon over the bins of ``binning``, Wasserstein in ``wasserstein``, chi-squared in
``contingency``); ``charts`` builds the display data stored with each result and ``decisions`` turns scores and
p-values into drifted flags. Results agree with scipy (``ks_2samp(method="asymp")``, ``chi2_contingency``,
``jensenshannon``, ``wasserstein_distance``), and every number returned is finite or None for any finite float64
input.
"""

from __future__ import annotations

from .binning import BIN_COUNT, MAX_VALUE_BINS, PSI_EPSILON
from .categorical import categorical_drift_compute
from .charts import CHART_BINS, ECDF_POINTS
from .decisions import CORRECTIONS, drift_flags_decide, p_values_correct
from .numeric import numeric_drift_compute
from .prediction import prediction_drift_compute
from .references import (
    CategoricalReference,
    NumericReference,
    ReferenceFormatError,
    categorical_reference_prepare,
    numeric_reference_prepare,
    numeric_reference_upgrade,
)
from .registry import (
    CATEGORICAL_DRIFT_TESTS,
    CATEGORICAL_TESTS,
    DRIFT_TESTS,
    NUMERIC_DRIFT_TESTS,
    NUMERIC_TESTS,
    DriftTest,
    drift_test_get,
)
from .results import (
    CATEGORICAL,
    INSUFFICIENT,
    NUMERIC,
    OK,
    UNKNOWN_CLASS,
    UNSEEN_CATEGORY,
    FeatureDrift,
    PredictionDrift,
)
from .summaries import NUMERIC_SUMMARY_KEYS, SUMMARY_QUANTILES

__all__ = [
    "BIN_COUNT",
    "CATEGORICAL",
    "CATEGORICAL_DRIFT_TESTS",
    "CATEGORICAL_TESTS",
    "CHART_BINS",
    "CORRECTIONS",
    "DRIFT_TESTS",
    "ECDF_POINTS",
    "INSUFFICIENT",
    "MAX_VALUE_BINS",
    "NUMERIC",
    "NUMERIC_DRIFT_TESTS",
    "NUMERIC_SUMMARY_KEYS",
    "NUMERIC_TESTS",
    "OK",
    "PSI_EPSILON",
    "SUMMARY_QUANTILES",
    "UNKNOWN_CLASS",
    "UNSEEN_CATEGORY",
    "CategoricalReference",
    "DriftTest",
    "FeatureDrift",
    "NumericReference",
    "PredictionDrift",
    "ReferenceFormatError",
    "categorical_drift_compute",
    "categorical_reference_prepare",
    "drift_flags_decide",
    "drift_test_get",
    "numeric_drift_compute",
    "numeric_reference_prepare",
    "numeric_reference_upgrade",
    "p_values_correct",
    "prediction_drift_compute",
]
