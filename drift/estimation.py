"""Confidence-based performance estimation (CBPE): a classifier's accuracy and macro F1 on windows without labels.

Method: NannyML's CBPE (docs, "How it works: Performance estimation",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html; the assumptions are set out in
Białek, Kivimäki, Kuberski, Perrakis, "Estimating Model Performance Under Covariate Shift Without Labels",
arXiv:2401.08348, where CBPE is the baseline). If the calibrated probability q_c(x) equals P(y = c | x), a row
predicted as class p adds q_c(x) to the expected count of cell [true c, predicted p] of the confusion matrix, and the
sum over a window is the window's expected confusion matrix; accuracy and F1 follow from it. What must hold is that
p(y | scores) is the same in the window as in the reference: pure covariate shift is fine, concept shift is not.

Calibration: isotonic regression per class (one-vs-rest; the two columns of a binary model share one calibrator, on
the positive class), fitted on the reference's raw probabilities and true labels, as NannyML does. Isotonic is
monotone, so it never reorders rows within a class (the model's ranking is kept), and it is non-parametric, so it
also corrects miscalibration that is not sigmoid-shaped (Platt scaling would not; Zadrozny & Elkan, KDD 2002;
Niculescu-Mizil & Caruana, ICML 2005). Multiclass calibrated columns are renormalized to sum to one. A class is
calibrated only when that helps (NannyML's rule, ``calibration="auto"``): isotonic regression overfits small or
already calibrated references, so it is kept only if its out-of-sample expected calibration error (10 stratified
90/10 splits, 10 equal-count bins) is lower than the raw probabilities'. A class with fewer than
``MIN_CALIBRATION_COUNT`` positive or negative reference rows, or one the scores already separate (AUROC > 0.999),
keeps its raw probabilities: an isotonic fit to a handful of rows (or to a class that never occurs) would replace
the model's probabilities by a few steps of noise (or by zero).

Sampling-error band: value -/+ ``BAND_SIGMAS`` (3, NannyML's ``SAMPLING_ERROR_RANGE``) standard errors, clipped to
[0, 1]. The standard error is the larger of (a) the spread of the realized metric over reference chunks of the
window's size, sigma_1 / sqrt(m) with sigma_1 estimated once from the labelled reference (NannyML's approach,
https://nannyml.readthedocs.io/en/stable/how_it_works/estimation_of_standard_error.html), and (b) the standard
deviation of the realized metric given the window's own calibrated probabilities (labels drawn from them). (b)
matters under shift: a window that moves towards the decision boundary has noisier labels than the reference
chunks, and a band from (a) alone is then narrower than that noise (binary case of bench/cbpe_bench.py: 97.2% of
windows covered by (a) alone, 98.6% with both). Three sigmas: under a normal approximation a
realized value outside the band happens 0.3% of the time when the model of the band is right, which leaves room for
calibration error of the reference fit.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedShuffleSplit

BAND_SIGMAS = 3.0
CALIBRATION_MODES = ("auto", "isotonic", "none")
# Positive and negative reference rows a class needs before it can be calibrated (and its calibration checked).
MIN_CALIBRATION_COUNT = 10
# The calibration check of NannyML: 10 stratified shuffle splits holding out 10%, ECE over 10 equal-count bins.
CALIBRATION_CHECK_SPLITS = 10
CALIBRATION_CHECK_TEST_SHARE = 0.1
CALIBRATION_CHECK_BINS = 10
CALIBRATION_CHECK_SEED = 42
SEPARATED_AUROC = 0.999
# Probabilities a little outside [0, 1] (float error of predict_proba) are clipped; further out is an error.
_PROBABILITY_TOLERANCE = 1e-6
_FORMAT_VERSION = 1
_KIND = "cbpe"
_BLOB_KEYS = (
    "kind",
    "format_version",
    "class_count",
    "calibrated",
    "offsets",
    "x_thresholds",
    "y_thresholds",
    "reference_size",
    "reference_metrics",
    "unit_stds",
)
# The identity map on [0, 1] as isotonic thresholds: np.interp with these points returns its input.
_IDENTITY = (np.array([0.0, 1.0]), np.array([0.0, 1.0]))


# ---------------------------------------------------------------------------------------------------------------
# Result types
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricEstimate:
    """One metric of a window: the CBPE estimate with its band, and the realized value where labels were given.

    All values are in [0, 1]. ``sampling_error`` is the standard error the band uses: the larger of
    ``reference_sampling_error`` (spread over reference chunks of the window's size) and
    ``window_sampling_error`` (spread of the realized value given the window's calibrated probabilities).
    """

    value: float
    lower: float
    upper: float
    sampling_error: float
    reference_sampling_error: float
    window_sampling_error: float
    realized: float | None  # over the window's labelled rows; None when none is labelled


@dataclass(frozen=True)
class PerformanceEstimate:
    """Estimated accuracy and macro F1 of one window of predictions (CBPE), with bands and realized values."""

    window_size: int  # rows estimated over
    labelled: int  # rows of the window with a true label (the realized values are over these)
    accuracy: MetricEstimate
    f1_macro: MetricEstimate
    # Estimated one-vs-rest F1 of each class (None where the class is neither predicted nor expected).
    f1_per_class: tuple[float | None, ...]
    # Expected confusion matrix [true class][predicted class] in rows; sums to window_size.
    expected_confusion: tuple[tuple[float, ...], ...]

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict of the estimate (for a JSONField)."""

        def metric(estimate: MetricEstimate) -> dict[str, float | None]:
            return {
                "value": estimate.value,
                "lower": estimate.lower,
                "upper": estimate.upper,
                "sampling_error": estimate.sampling_error,
                "reference_sampling_error": estimate.reference_sampling_error,
                "window_sampling_error": estimate.window_sampling_error,
                "realized": estimate.realized,
            }

        return {
            "window_size": self.window_size,
            "labelled": self.labelled,
            "accuracy": metric(self.accuracy),
            "f1_macro": metric(self.f1_macro),
            "f1_per_class": list(self.f1_per_class),
            "expected_confusion": [list(row) for row in self.expected_confusion],
        }


# ---------------------------------------------------------------------------------------------------------------
# Fitted state
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CBPEReference:
    """CBPE state fitted once on a labelled reference: per-class isotonic calibrators and sampling-error scales.

    A binary model (``class_count == 2``) has one calibrator, for class 1 (class 0 gets 1 - q1); a multiclass model
    has one per class. Calibrator c is the piecewise-linear map through (x_thresholds[c], y_thresholds[c]), clipped
    at both ends: exactly what scikit-learn's ``IsotonicRegression(out_of_bounds="clip").predict`` computes; a class
    left uncalibrated has the identity map [0, 1] -> [0, 1].
    """

    class_count: int
    calibrated: tuple[bool, ...]  # per calibrator: True where the isotonic fit is used, False for the identity
    x_thresholds: tuple[np.ndarray, ...]
    y_thresholds: tuple[np.ndarray, ...]
    reference_size: int
    reference_accuracy: float
    reference_f1_macro: float
    # Per-row standard deviations: the realized metric over i.i.d. chunks of m rows has std unit_std / sqrt(m).
    accuracy_unit_std: float
    f1_macro_unit_std: float

    @property
    def is_binary(self) -> bool:
        """True for a two-class model (one calibrator, on class 1)."""
        return self.class_count == 2

    def calibrate(self, probabilities: np.ndarray) -> np.ndarray:
        """Return calibrated probabilities [m, k] (rows sum to one) of raw probabilities [m, k]."""
        raw = _probabilities_check(probabilities, "probabilities", self.class_count)
        if self.is_binary:
            positive = np.interp(raw[:, 1], self.x_thresholds[0], self.y_thresholds[0])
            return np.column_stack((1.0 - positive, positive))
        calibrated = np.column_stack(
            [np.interp(raw[:, c], self.x_thresholds[c], self.y_thresholds[c]) for c in range(self.class_count)]
        )
        totals = calibrated.sum(axis=1, keepdims=True)
        # A row whose every calibrated probability is 0 carries no information: uniform, as NannyML does.
        uniform = np.full_like(calibrated, 1.0 / self.class_count)
        np.divide(calibrated, totals, out=uniform, where=totals > 0)
        return uniform

    def to_bytes(self) -> bytes:
        """Serialize to an npz blob (no pickle) for a database BinaryField."""
        sizes = [x.size for x in self.x_thresholds]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            kind=np.array(_KIND),
            format_version=np.array(_FORMAT_VERSION),
            class_count=np.array(self.class_count),
            calibrated=np.array(self.calibrated, dtype=bool),
            offsets=np.concatenate(([0], np.cumsum(sizes))).astype(np.int64),
            x_thresholds=np.concatenate(self.x_thresholds),
            y_thresholds=np.concatenate(self.y_thresholds),
            reference_size=np.array(self.reference_size),
            reference_metrics=np.array([self.reference_accuracy, self.reference_f1_macro]),
            unit_stds=np.array([self.accuracy_unit_std, self.f1_macro_unit_std]),
        )
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CBPEReference:
        """Load a state written by to_bytes (ValueError for another kind of blob or another format version)."""
        with np.load(io.BytesIO(data), allow_pickle=False) as blob:
            missing = set(_BLOB_KEYS) - set(blob.files)
            if "kind" not in blob.files or str(blob["kind"]) != _KIND:
                raise ValueError("not a CBPE reference blob")
            if int(blob["format_version"]) != _FORMAT_VERSION:
                raise ValueError(f"unsupported CBPE reference format version {int(blob['format_version'])}")
            if missing:
                raise ValueError(f"corrupt CBPE reference: missing {sorted(missing)}")
            bounds = blob["offsets"].astype(np.int64).tolist()
            x_all = blob["x_thresholds"].astype(np.float64)
            y_all = blob["y_thresholds"].astype(np.float64)
            reference_metrics = blob["reference_metrics"].astype(np.float64)
            unit_stds = blob["unit_stds"].astype(np.float64)
            class_count = int(blob["class_count"])
            if (
                len(bounds) - 1 != (1 if class_count == 2 else class_count)
                or len(blob["calibrated"]) != len(bounds) - 1
            ):
                raise ValueError("corrupt CBPE reference: calibrator count does not match the class count")
            return cls(
                class_count=class_count,
                calibrated=tuple(bool(flag) for flag in blob["calibrated"]),
                x_thresholds=tuple(x_all[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)),
                y_thresholds=tuple(y_all[bounds[i] : bounds[i + 1]] for i in range(len(bounds) - 1)),
                reference_size=int(blob["reference_size"]),
                reference_accuracy=float(reference_metrics[0]),
                reference_f1_macro=float(reference_metrics[1]),
                accuracy_unit_std=float(unit_stds[0]),
                f1_macro_unit_std=float(unit_stds[1]),
            )


# ---------------------------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------------------------


def cbpe_reference_prepare(
    *, probabilities: np.ndarray, labels: np.ndarray, calibration: str = "auto"
) -> CBPEReference:
    """Fit CBPE on a labelled reference: raw probabilities [n, k] (k >= 2) and true class indices [n] in 0..k-1.

    ``calibration``: "auto" (isotonic per class where it lowers the out-of-sample calibration error, NannyML's
    rule), "isotonic" (always, except classes with too few rows or whose scores already separate them) or "none"
    (trust the raw probabilities). The model's predicted class is the argmax of the raw probabilities, as when it
    serves. Raises ValueError on bad shapes, non-finite or out-of-range probabilities, labels outside 0..k-1, or an
    unknown calibration mode.
    """
    if calibration not in CALIBRATION_MODES:
        raise ValueError(f"unknown calibration {calibration!r}; expected one of {CALIBRATION_MODES}")
    raw = _probabilities_check(probabilities, "probabilities")
    row_count, class_count = raw.shape
    truth = _labels_check(labels, row_count, class_count, allow_unlabelled=False)
    columns = [1] if class_count == 2 else list(range(class_count))
    calibrated: list[bool] = []
    x_thresholds: list[np.ndarray] = []
    y_thresholds: list[np.ndarray] = []
    for column in columns:
        scores, targets = raw[:, column], (truth == column).astype(np.float64)
        fitted = _isotonic_fit(scores, targets) if _calibration_wanted(scores, targets, calibration) else None
        calibrated.append(fitted is not None)
        x, y = fitted if fitted is not None else _IDENTITY
        x_thresholds.append(x)
        y_thresholds.append(y)

    predicted = raw.argmax(axis=1)
    accuracy, f1_macro = _realized_scores(truth, predicted, class_count)
    return CBPEReference(
        class_count=class_count,
        calibrated=tuple(calibrated),
        x_thresholds=tuple(x_thresholds),
        y_thresholds=tuple(y_thresholds),
        reference_size=row_count,
        reference_accuracy=accuracy,
        reference_f1_macro=f1_macro,
        accuracy_unit_std=float(np.std(truth == predicted)),
        f1_macro_unit_std=_f1_macro_unit_std(truth, predicted, class_count),
    )


def _calibration_wanted(scores: np.ndarray, targets: np.ndarray, mode: str) -> bool:
    """Whether one class's raw probabilities get an isotonic calibrator under the calibration mode."""
    positives = int(targets.sum())
    if mode == "none" or min(positives, targets.size - positives) < MIN_CALIBRATION_COUNT:
        return False
    if roc_auc_score(targets, scores) > SEPARATED_AUROC:
        return False
    return mode == "isotonic" or _isotonic_lowers_calibration_error(scores, targets)


def _isotonic_fit(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit isotonic regression of targets on scores; return its thresholds (x strictly increasing)."""
    regression = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0, increasing=True)
    regression.fit(scores, targets)
    return regression.X_thresholds_.astype(np.float64), regression.y_thresholds_.astype(np.float64)


def _isotonic_lowers_calibration_error(scores: np.ndarray, targets: np.ndarray) -> bool:
    """True when isotonic calibration fitted on 90% lowers the ECE on the held-out 10%, pooled over the splits."""
    splits = StratifiedShuffleSplit(
        n_splits=CALIBRATION_CHECK_SPLITS, test_size=CALIBRATION_CHECK_TEST_SHARE, random_state=CALIBRATION_CHECK_SEED
    )
    held_out_raw: list[np.ndarray] = []
    held_out_calibrated: list[np.ndarray] = []
    held_out_targets: list[np.ndarray] = []
    for train, test in splits.split(scores, targets):
        x, y = _isotonic_fit(scores[train], targets[train])
        held_out_raw.append(scores[test])
        held_out_calibrated.append(np.interp(scores[test], x, y))
        held_out_targets.append(targets[test])
    truth = np.concatenate(held_out_targets)
    before = _expected_calibration_error(np.concatenate(held_out_raw), truth)
    after = _expected_calibration_error(np.concatenate(held_out_calibrated), truth)
    return after < before


def _expected_calibration_error(probabilities: np.ndarray, targets: np.ndarray) -> float:
    """ECE over equal-count bins of the rows sorted by probability: sum of share * |mean p - mean y|."""
    order = np.argsort(probabilities, kind="stable")
    bins = min(CALIBRATION_CHECK_BINS, max(probabilities.size // 2, 1))
    error = 0.0
    for part in np.array_split(order, bins):
        if part.size:
            error += part.size / probabilities.size * abs(probabilities[part].mean() - targets[part].mean())
    return error


def _f1_macro_unit_std(truth: np.ndarray, predicted: np.ndarray, class_count: int) -> float:
    """Per-row std of macro F1's influence function (delta method): its std over chunks of m rows is this / sqrt(m).

    Macro F1 = mean over present classes of 2 TP_c / (P_c + S_c) (rates of true positives, predictions and true
    rows of class c); a row moves it by (1/K) sum_c [2 tp_c / D_c - 2 TP_c (p_c + s_c) / D_c^2].
    """
    rows = truth.size
    predicted_onehot = np.eye(class_count)[predicted]
    true_onehot = np.eye(class_count)[truth]
    hit = predicted_onehot * true_onehot
    rate_hit = hit.mean(axis=0)
    denominator = predicted_onehot.mean(axis=0) + true_onehot.mean(axis=0)
    present = denominator > 0
    if rows < 2 or not present.any():
        return 0.0
    d = denominator[present]
    influence = (
        2.0 * hit[:, present] / d - 2.0 * rate_hit[present] * (predicted_onehot + true_onehot)[:, present] / d**2
    ).sum(axis=1) / int(present.sum())
    return float(np.std(influence))


# ---------------------------------------------------------------------------------------------------------------
# Estimation
# ---------------------------------------------------------------------------------------------------------------


def cbpe_estimate(
    *,
    reference: CBPEReference,
    probabilities: np.ndarray,
    labels: np.ndarray | None = None,
    band_sigmas: float = BAND_SIGMAS,
) -> PerformanceEstimate:
    """Estimate accuracy and macro F1 of a window from its raw probabilities [m, k] (m >= 1, k as the reference).

    The predicted class of a row is the argmax of its raw probabilities. ``labels`` (optional, [m] class indices,
    -1 where a row has no label yet) gives the realized values over the labelled rows. Macro F1 is CBPE's ratio of
    expectations, sum of 2 E[TP_c] / (2 E[TP_c] + E[FP_c] + E[FN_c]) over classes, divided by their number: the F1 of
    the expected confusion matrix, not the expected F1 (they differ by O(1/m); under 0.005 at m = 1,000 in
    tests/drift/test_estimation.py). Raises ValueError on shape, range or class-count mismatches.
    """
    if not math.isfinite(band_sigmas) or band_sigmas < 0:
        raise ValueError(f"band_sigmas must be a finite number >= 0, got {band_sigmas}")
    raw = _probabilities_check(probabilities, "probabilities", reference.class_count)
    rows, class_count = raw.shape
    truth = None if labels is None else _labels_check(labels, rows, class_count, allow_unlabelled=True)
    calibrated = reference.calibrate(raw)
    predicted = raw.argmax(axis=1)
    predicted_onehot = np.eye(class_count)[predicted]
    confusion = calibrated.T @ predicted_onehot  # [true, predicted] expected counts

    true_positive = np.diag(confusion)
    denominator = confusion.sum(axis=0) + confusion.sum(axis=1)  # 2 TP + FP + FN
    present = denominator > 0
    f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros(class_count), where=present)
    accuracy_value = float(true_positive.sum() / rows)
    f1_value = float(f1[present].mean()) if present.any() else 0.0

    # Std of the realized metric given the window (labels drawn from the calibrated probabilities), by the delta
    # method: each row adds g_i(y) for its label y; Var = sum_i (E_q[g_i^2] - E_q[g_i]^2).
    correct_probability = calibrated[np.arange(rows), predicted]
    accuracy_window_std = math.sqrt(float(np.sum(correct_probability * (1.0 - correct_probability)))) / rows
    influence = np.zeros((rows, class_count))
    if present.any():
        d = denominator[present]
        influence[:, present] = (2.0 * predicted_onehot[:, present] / d - 2.0 * true_positive[present] / d**2) / int(
            present.sum()
        )
    mean = np.sum(calibrated * influence, axis=1)
    variance = np.maximum(np.sum(calibrated * influence**2, axis=1) - mean**2, 0.0)
    f1_window_std = math.sqrt(float(variance.sum()))

    realized_accuracy: float | None = None
    realized_f1: float | None = None
    labelled = 0
    if truth is not None:
        known = truth >= 0
        labelled = int(known.sum())
        if labelled:
            realized_accuracy, realized_f1 = _realized_scores(truth[known], predicted[known], class_count)

    root = math.sqrt(rows)
    return PerformanceEstimate(
        window_size=rows,
        labelled=labelled,
        accuracy=_metric_estimate(
            accuracy_value, reference.accuracy_unit_std / root, accuracy_window_std, band_sigmas, realized_accuracy
        ),
        f1_macro=_metric_estimate(
            f1_value, reference.f1_macro_unit_std / root, f1_window_std, band_sigmas, realized_f1
        ),
        f1_per_class=tuple(float(f1[c]) if present[c] else None for c in range(class_count)),
        expected_confusion=tuple(tuple(float(v) for v in row) for row in confusion),
    )


def _metric_estimate(
    value: float, reference_std: float, window_std: float, band_sigmas: float, realized: float | None
) -> MetricEstimate:
    """Build one metric's estimate with its band, clipped to [0, 1]."""
    sigma = max(reference_std, window_std)
    return MetricEstimate(
        value=value,
        lower=max(value - band_sigmas * sigma, 0.0),
        upper=min(value + band_sigmas * sigma, 1.0),
        sampling_error=sigma,
        reference_sampling_error=reference_std,
        window_sampling_error=window_std,
        realized=realized,
    )


def _realized_scores(truth: np.ndarray, predicted: np.ndarray, class_count: int) -> tuple[float, float]:
    """(accuracy, macro F1 over the classes present in truth or predictions), as scikit-learn computes them."""
    confusion = np.bincount(truth * class_count + predicted, minlength=class_count * class_count).reshape(
        class_count, class_count
    )
    true_positive = np.diag(confusion).astype(np.float64)
    denominator = (confusion.sum(axis=0) + confusion.sum(axis=1)).astype(np.float64)
    present = denominator > 0
    f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros(class_count), where=present)
    return float(true_positive.sum() / truth.size), float(f1[present].mean())


# ---------------------------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------------------------


def _probabilities_check(probabilities: np.ndarray, name: str, class_count: int | None = None) -> np.ndarray:
    """Return probabilities as float64 [rows >= 1, k >= 2], clipped to [0, 1]; ValueError when they cannot be."""
    matrix = np.asarray(probabilities, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 2:
        raise ValueError(f"{name} must have shape [rows >= 1, classes >= 2], got {matrix.shape}")
    if class_count is not None and matrix.shape[1] != class_count:
        raise ValueError(f"{name} has {matrix.shape[1]} classes, the reference has {class_count}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    if matrix.min() < -_PROBABILITY_TOLERANCE or matrix.max() > 1.0 + _PROBABILITY_TOLERANCE:
        raise ValueError(f"{name} must lie in [0, 1], got values in [{matrix.min()}, {matrix.max()}]")
    return np.clip(matrix, 0.0, 1.0)


def _labels_check(labels: np.ndarray, rows: int, class_count: int, *, allow_unlabelled: bool) -> np.ndarray:
    """Return labels as int64 [rows] in 0..k-1 (and -1 = no label where allowed); ValueError otherwise."""
    values = np.asarray(labels)
    if values.shape != (rows,):
        raise ValueError(f"labels must have shape [{rows}], got {values.shape}")
    integral = values.dtype.kind in "iu" or (
        values.dtype.kind == "f" and bool(np.isfinite(values).all()) and bool((values == np.round(values)).all())
    )
    if not integral:
        raise ValueError("labels must be integer class indices")
    result = values.astype(np.int64)
    low = -1 if allow_unlabelled else 0
    if result.size and (result.min() < low or result.max() >= class_count):
        allowed = f"-1 (no label) or 0..{class_count - 1}" if allow_unlabelled else f"0..{class_count - 1}"
        raise ValueError(f"labels must be class indices {allowed}, got values in [{result.min()}, {result.max()}]")
    return result
