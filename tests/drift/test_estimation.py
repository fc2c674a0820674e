"""Tests of CBPE: estimates under covariate shift, the expected confusion matrix, bands, calibration, persistence."""

from __future__ import annotations

import io
import itertools
import json
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from drift.estimation import CBPEReference, PerformanceEstimate, cbpe_estimate, cbpe_reference_prepare
from drift.statistics import numeric_reference_prepare

WINDOW_ROWS = 1_000
STEPS = 6
WINDOWS_PER_STEP = 12
# Over seeds 0..23 the share of windows within 0.03 was at least 0.958 for both models (mean 0.986 and 0.987).
SHIFT_SEED = 20_240_611

# ---------------------------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------------------------


def labels_draw(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One label per row drawn from its class probabilities [rows, k]."""
    return (rng.random(len(probabilities))[:, None] > np.cumsum(probabilities, axis=1)[:, :-1]).sum(axis=1)


def labels_draw_many(rng: np.random.Generator, probabilities: np.ndarray, draws: int) -> np.ndarray:
    """`draws` independent labellings [draws, rows] of the rows, each label drawn from its row's probabilities."""
    cumulative = np.cumsum(probabilities, axis=1)[:, :-1]
    return (rng.random((draws, len(probabilities)))[:, :, None] > cumulative[None]).sum(axis=2)


def realized_f1_macro(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Macro F1 over the classes present in truth or predictions, computed by scikit-learn."""
    labels = np.union1d(truth, predicted)
    return float(f1_score(truth, predicted, labels=labels, average="macro"))


def realized_f1_macro_many(truths: np.ndarray, predicted: np.ndarray, class_count: int) -> np.ndarray:
    """realized_f1_macro of each row of truths [draws, rows] against one prediction vector, vectorized."""
    truth_onehot = truths[:, :, None] == np.arange(class_count)
    predicted_onehot = (predicted[:, None] == np.arange(class_count))[None]
    true_positive = (truth_onehot & predicted_onehot).sum(axis=1)
    denominator = truth_onehot.sum(axis=1) + predicted_onehot.sum(axis=1)
    f1 = np.divide(2.0 * true_positive, denominator, out=np.zeros(denominator.shape), where=denominator > 0)
    return f1.sum(axis=1) / (denominator > 0).sum(axis=1)


def test_vectorized_realized_f1_is_scikit_learns() -> None:
    """The test helper that scores many labellings at once agrees with scikit-learn's macro F1."""
    # given
    rng = np.random.default_rng(13)
    predicted = rng.integers(0, 3, 50)
    truths = rng.integers(0, 3, (20, 50))
    truths[0] = 0  # a labelling where classes 1 and 2 are absent from the truth

    # when
    vectorized = realized_f1_macro_many(truths, predicted, 3)

    # then
    np.testing.assert_allclose(vectorized, [realized_f1_macro(truth, predicted) for truth in truths], atol=1e-12)


# Binary truth: P(y = 1 | x) = sigmoid(x . w - 1); the fourth input does not matter.
BINARY_WEIGHTS = np.array([1.0, -0.9, 0.6, 0.0])
# Three-class truth: softmax(W x).
THREE_CLASS_WEIGHTS = np.array([[2.0, 0.0, 1.0, 0.0], [-1.0, 1.7, 0.0, 0.5], [-1.0, -1.7, -1.0, -0.5]])


def true_probabilities(kind: str, x: np.ndarray) -> np.ndarray:
    """The fixed conditional model p(y | x) that draws the labels, in every period."""
    if kind == "binary":
        positive = 1.0 / (1.0 + np.exp(-(x @ BINARY_WEIGHTS - 1.0)))
        return np.column_stack((1.0 - positive, positive))
    logits = x @ THREE_CLASS_WEIGHTS.T
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=1, keepdims=True)


def inputs_draw(kind: str, rng: np.random.Generator, rows: int, step: int) -> np.ndarray:
    """Inputs of shift step `step` (0 = the reference period); only the inputs move, never p(y | x)."""
    if kind == "binary":
        # The mean moves along w towards the decision boundary (its logit from 3.0 to 1.0) and along the irrelevant
        # fourth input.
        direction = BINARY_WEIGHTS / np.linalg.norm(BINARY_WEIGHTS)
        logit_at_mean = 3.0 - 0.4 * step
        mean = direction * (logit_at_mean + 1.0) / np.linalg.norm(BINARY_WEIGHTS) + np.array([0, 0, 0, 0.3 * step])
        return rng.normal(size=(rows, 4)) + mean
    # The three classes meet at the origin: the inputs contract towards it.
    return rng.normal(size=(rows, 4)) * (1.6 - 0.19 * step)


def model_train(kind: str, rng: np.random.Generator) -> LogisticRegression:
    """A logistic regression trained on reference-period rows; strong regularization leaves it underconfident."""
    x = inputs_draw(kind, rng, 20_000, 0)
    return LogisticRegression(C=0.01, max_iter=1_000).fit(x, labels_draw(rng, true_probabilities(kind, x)))


@dataclass(frozen=True)
class ShiftData:
    """A model's scores on its labelled reference and on windows of 1,000 rows in 6 shift steps (bench/ reuses it)."""

    reference_probabilities: np.ndarray  # [20,000, k]
    reference_labels: np.ndarray  # [20,000]
    window_probabilities: np.ndarray  # [windows * 1,000, k], window after window
    window_labels: np.ndarray  # [windows * 1,000]
    steps: np.ndarray  # [windows] shift step of each window

    def windows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(probabilities, labels) of each window."""
        bounds = np.arange(1, len(self.steps)) * WINDOW_ROWS
        return list(zip(np.split(self.window_probabilities, bounds), np.split(self.window_labels, bounds), strict=True))


def shift_data_build(kind: str, seed: int) -> ShiftData:
    """Train the model on reference-period rows, score other reference rows and the shifted windows."""
    rng = np.random.default_rng(seed)
    model = model_train(kind, rng)
    x_reference = inputs_draw(kind, rng, 20_000, 0)
    y_reference = labels_draw(rng, true_probabilities(kind, x_reference))
    steps = np.repeat(np.arange(STEPS), WINDOWS_PER_STEP)
    x = np.concatenate([inputs_draw(kind, rng, WINDOW_ROWS, int(step)) for step in steps])
    return ShiftData(
        reference_probabilities=model.predict_proba(x_reference),
        reference_labels=y_reference,
        window_probabilities=model.predict_proba(x),
        window_labels=labels_draw(rng, true_probabilities(kind, x)),
        steps=steps,
    )


@dataclass(frozen=True)
class ShiftCase:
    """A model's fitted CBPE reference and the estimates of its shifted windows."""

    reference: CBPEReference
    steps: np.ndarray  # [windows] shift step of each window
    estimates: tuple[PerformanceEstimate, ...]

    def column(self, metric: str, field: str) -> np.ndarray:
        """One field of one metric over all windows."""
        return np.array([getattr(getattr(estimate, metric), field) for estimate in self.estimates], dtype=float)


def shift_case_build(kind: str, seed: int) -> ShiftCase:
    """Fit CBPE on the reference of shift_data_build and estimate each window with its labels."""
    data = shift_data_build(kind, seed)
    reference = cbpe_reference_prepare(probabilities=data.reference_probabilities, labels=data.reference_labels)
    estimates = tuple(
        cbpe_estimate(reference=reference, probabilities=probabilities, labels=labels)
        for probabilities, labels in data.windows()
    )
    return ShiftCase(reference=reference, steps=data.steps, estimates=estimates)


@pytest.fixture(scope="module", params=["binary", "three_class"])
def shift_case(request: pytest.FixtureRequest) -> ShiftCase:
    """The covariate-shift case of a binary and of a three-class logistic regression."""
    return shift_case_build(request.param, seed=SHIFT_SEED)


# ---------------------------------------------------------------------------------------------------------------
# Acceptance: covariate shift
# ---------------------------------------------------------------------------------------------------------------


def test_estimated_accuracy_tracks_realized_accuracy_under_covariate_shift(shift_case: ShiftCase) -> None:
    """Labels from a fixed p(y|x), inputs shifted in steps: the estimate is within 0.03 in >= 95% of windows."""
    # given
    estimated = shift_case.column("accuracy", "value")
    realized = shift_case.column("accuracy", "realized")
    first, last = shift_case.steps == 0, shift_case.steps == STEPS - 1

    # when
    within = np.abs(estimated - realized) <= 0.03

    # then
    assert len(shift_case.estimates) >= 60
    assert realized[first].mean() - realized[last].mean() >= 0.1, "the shift must cost the model real accuracy"
    assert within.mean() >= 0.95, f"within 0.03 in {within.mean():.1%} of windows"
    # A monitor that kept showing the reference accuracy would be off in most shifted windows.
    assert (np.abs(shift_case.reference.reference_accuracy - realized) <= 0.03).mean() < 0.6


def test_band_covers_realized_accuracy_and_f1(shift_case: ShiftCase) -> None:
    """The 3-sigma band covers the realized accuracy and macro F1 in >= 90% of the shifted windows."""
    for metric in ("accuracy", "f1_macro"):
        # given
        realized = shift_case.column(metric, "realized")

        # when
        covered = (shift_case.column(metric, "lower") <= realized) & (realized <= shift_case.column(metric, "upper"))

        # then
        assert covered.mean() >= 0.90, f"{metric}: band covers {covered.mean():.1%} of windows"
        assert (shift_case.column(metric, "lower") >= 0).all() and (shift_case.column(metric, "upper") <= 1).all()


def test_estimated_f1_follows_realized_f1_under_covariate_shift(shift_case: ShiftCase) -> None:
    """Macro F1 is estimated as closely as accuracy on average: mean absolute error under 0.02."""
    # given
    estimated = shift_case.column("f1_macro", "value")
    realized = shift_case.column("f1_macro", "realized")

    # when
    error = np.abs(estimated - realized).mean()

    # then
    assert error < 0.02


def test_calibration_is_applied_where_the_model_needs_it() -> None:
    """The underconfident three-class model gets isotonic calibrators; trusting its raw probabilities would miss."""
    # given
    rng = np.random.default_rng(7)
    model = model_train("three_class", rng)
    x_reference = inputs_draw("three_class", rng, 20_000, 0)
    y_reference = labels_draw(rng, true_probabilities("three_class", x_reference))
    raw_reference = model.predict_proba(x_reference)
    x_window = inputs_draw("three_class", rng, 20_000, 3)
    window = model.predict_proba(x_window)
    realized = float((window.argmax(axis=1) == labels_draw(rng, true_probabilities("three_class", x_window))).mean())

    # when
    auto = cbpe_reference_prepare(probabilities=raw_reference, labels=y_reference)
    trusted = cbpe_reference_prepare(probabilities=raw_reference, labels=y_reference, calibration="none")

    # then
    assert auto.calibrated == (True, True, True)
    assert trusted.calibrated == (False, False, False)
    assert abs(cbpe_estimate(reference=auto, probabilities=window).accuracy.value - realized) < 0.01
    assert abs(cbpe_estimate(reference=trusted, probabilities=window).accuracy.value - realized) > 0.02


# ---------------------------------------------------------------------------------------------------------------
# The expected confusion matrix
# ---------------------------------------------------------------------------------------------------------------


def uncalibrated_reference(class_count: int) -> CBPEReference:
    """A reference whose calibrators are the identity (calibration="none")."""
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(class_count), size=200)
    return cbpe_reference_prepare(
        probabilities=probabilities, labels=labels_draw(rng, probabilities), calibration="none"
    )


def test_expected_confusion_matrix_equals_the_enumerated_expectation() -> None:
    """Over every labelling of a small window, weighted by its probability, the mean confusion matrix is CBPE's."""
    # given
    rng = np.random.default_rng(1)
    window = rng.dirichlet(np.ones(3), size=5)
    predicted = window.argmax(axis=1)
    expected = np.zeros((3, 3))
    for labels in itertools.product(range(3), repeat=5):
        weight = np.prod(window[np.arange(5), labels])
        np.add.at(expected, (np.array(labels), predicted), weight)

    # when
    estimate = cbpe_estimate(reference=uncalibrated_reference(3), probabilities=window)

    # then
    np.testing.assert_allclose(np.array(estimate.expected_confusion), expected, atol=1e-12)
    assert estimate.accuracy.value == pytest.approx(np.trace(expected) / 5, abs=1e-12)
    tp = np.diag(expected)
    f1 = 2 * tp / (expected.sum(axis=0) + expected.sum(axis=1))
    np.testing.assert_allclose(np.array(estimate.f1_per_class, dtype=float), f1, atol=1e-12)
    assert estimate.f1_macro.value == pytest.approx(f1.mean(), abs=1e-12)


def test_perfectly_calibrated_probabilities_estimate_the_expected_metrics() -> None:
    """When labels follow the model's probabilities, the estimates equal the expected realized accuracy and F1."""
    # given: probabilities from a few levels, so that the reference pins the calibration map down at each of them
    rng = np.random.default_rng(2)
    levels = np.array([0.05, 0.2, 0.35, 0.6, 0.8, 0.97])
    reference_positive = rng.choice(levels, size=60_000)
    reference = np.column_stack((1 - reference_positive, reference_positive))
    fitted = cbpe_reference_prepare(probabilities=reference, labels=labels_draw(rng, reference))
    window_positive = rng.choice(levels, size=WINDOW_ROWS, p=[0.3, 0.1, 0.1, 0.1, 0.1, 0.3])
    window = np.column_stack((1 - window_positive, window_positive))
    predicted = window.argmax(axis=1)
    draws = labels_draw_many(rng, window, 2_000)

    # when
    estimate = cbpe_estimate(reference=fitted, probabilities=window)

    # then
    assert estimate.accuracy.value == pytest.approx(window.max(axis=1).mean(), abs=0.005)
    assert estimate.accuracy.value == pytest.approx((draws == predicted).mean(), abs=0.005)
    # Macro F1 is the F1 of the expected confusion matrix; the expected F1 differs by O(1/m).
    assert estimate.f1_macro.value == pytest.approx(realized_f1_macro_many(draws, predicted, 2).mean(), abs=0.005)


def test_overconfident_scores_are_calibrated_before_estimating() -> None:
    """Scores sharper than the truth (sigmoid(3z) for sigmoid(z)) would overstate accuracy; calibration removes it."""
    # given
    rng = np.random.default_rng(3)

    def scored(rows: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.normal(0.0, 2.0, rows)
        truth = 1 / (1 + np.exp(-z))
        labels = (rng.random(rows) < truth).astype(int)
        score = 1 / (1 + np.exp(-3 * z))
        return np.column_stack((1 - score, score)), labels

    reference, reference_labels = scored(20_000)
    window, window_labels = scored(20_000)

    # when
    fitted = cbpe_reference_prepare(probabilities=reference, labels=reference_labels)
    estimate = cbpe_estimate(reference=fitted, probabilities=window, labels=window_labels)

    # then
    assert fitted.calibrated == (True,)
    assert window.max(axis=1).mean() - estimate.accuracy.realized > 0.05
    assert estimate.accuracy.value == pytest.approx(estimate.accuracy.realized, abs=0.01)


def test_multiclass_calibration_renormalizes_rows() -> None:
    """One-vs-rest calibrated columns of a multiclass model sum to one per row."""
    # given
    rng = np.random.default_rng(4)
    probabilities = rng.dirichlet(np.full(4, 0.5), size=5_000)
    sharpened = probabilities**2 / (probabilities**2).sum(axis=1, keepdims=True)
    fitted = cbpe_reference_prepare(
        probabilities=sharpened, labels=labels_draw(rng, probabilities), calibration="isotonic"
    )

    # when
    calibrated = fitted.calibrate(sharpened[:500])

    # then
    assert fitted.calibrated == (True, True, True, True)
    np.testing.assert_allclose(calibrated.sum(axis=1), 1.0, atol=1e-12)
    assert (calibrated >= 0).all()


def test_calibrator_reproduces_scikit_learn_isotonic_predictions() -> None:
    """The stored thresholds give what IsotonicRegression(out_of_bounds="clip").predict gives, inside and outside."""
    # given
    rng = np.random.default_rng(5)
    scores = rng.beta(2, 2, 3_000) * 0.8 + 0.1
    labels = (rng.random(3_000) < scores**2).astype(int)
    probabilities = np.column_stack((1 - scores, scores))
    sklearn_fit = IsotonicRegression(out_of_bounds="clip", increasing=True).fit(scores, labels)
    queries = np.concatenate((np.linspace(0, 1, 501), rng.random(500)))

    # when
    fitted = cbpe_reference_prepare(probabilities=probabilities, labels=labels, calibration="isotonic")
    ours = fitted.calibrate(np.column_stack((1 - queries, queries)))[:, 1]

    # then
    np.testing.assert_allclose(ours, sklearn_fit.predict(queries), atol=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# Sampling-error band
# ---------------------------------------------------------------------------------------------------------------


def test_reference_sampling_error_is_the_spread_over_reference_chunks_of_the_window_size() -> None:
    """sigma_1 / sqrt(m) matches the std of the realized accuracy and macro F1 over reference chunks of m rows."""
    # given
    rng = np.random.default_rng(6)
    probabilities = rng.dirichlet(np.full(3, 0.7), size=30_000)
    labels = labels_draw(rng, probabilities)
    predicted = probabilities.argmax(axis=1)
    fitted = cbpe_reference_prepare(probabilities=probabilities, labels=labels, calibration="none")
    chunk = 500
    chunks = rng.integers(0, 30_000, (1_500, chunk))

    # when
    accuracy_spread = np.std((labels[chunks] == predicted[chunks]).mean(axis=1))
    f1_spread = np.std([realized_f1_macro_many(labels[c][None], predicted[c], 3)[0] for c in chunks])
    estimate = cbpe_estimate(reference=fitted, probabilities=probabilities[:chunk])

    # then
    assert estimate.accuracy.reference_sampling_error == pytest.approx(accuracy_spread, rel=0.08)
    assert estimate.f1_macro.reference_sampling_error == pytest.approx(f1_spread, rel=0.08)


def test_window_sampling_error_is_the_spread_of_the_realized_value_given_the_window() -> None:
    """For labels drawn from the window's calibrated probabilities, the realized values spread as the window term."""
    # given
    rng = np.random.default_rng(8)
    window = rng.dirichlet(np.full(3, 0.7), size=800)
    predicted = window.argmax(axis=1)
    draws = labels_draw_many(rng, window, 2_000)

    # when
    estimate = cbpe_estimate(reference=uncalibrated_reference(3), probabilities=window)

    # then
    assert estimate.accuracy.window_sampling_error == pytest.approx(np.std((draws == predicted).mean(axis=1)), rel=0.08)
    assert estimate.f1_macro.window_sampling_error == pytest.approx(
        np.std(realized_f1_macro_many(draws, predicted, 3)), rel=0.08
    )


def test_band_is_three_sigmas_of_the_larger_error_clipped_to_the_unit_interval() -> None:
    """lower/upper = value -/+ 3 sigma with sigma the larger error term, never outside [0, 1]."""
    # given
    fitted = uncalibrated_reference(2)
    confident = np.tile([0.001, 0.999], (50, 1))
    rng = np.random.default_rng(9)
    uncertain = rng.dirichlet([5, 5], size=50)

    # when
    sure = cbpe_estimate(reference=fitted, probabilities=confident)
    unsure = cbpe_estimate(reference=fitted, probabilities=uncertain)
    narrow = cbpe_estimate(reference=fitted, probabilities=uncertain, band_sigmas=2.0)

    # then
    assert sure.accuracy.upper == 1.0
    for estimate, sigmas in ((unsure, 3.0), (narrow, 2.0)):
        for metric in (estimate.accuracy, estimate.f1_macro):
            sigma = max(metric.reference_sampling_error, metric.window_sampling_error)
            assert metric.sampling_error == sigma
            assert metric.lower == pytest.approx(max(metric.value - sigmas * sigma, 0.0))
            assert metric.upper == pytest.approx(min(metric.value + sigmas * sigma, 1.0))


# ---------------------------------------------------------------------------------------------------------------
# Realized values, degenerate and bad input
# ---------------------------------------------------------------------------------------------------------------


def test_realized_values_use_only_labelled_rows() -> None:
    """Labels of -1 are rows without feedback: the realized values are over the others, None when none is labelled."""
    # given
    probabilities = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    fitted = uncalibrated_reference(2)

    # when
    partly = cbpe_estimate(reference=fitted, probabilities=probabilities, labels=np.array([0, 0, -1, 1]))
    unlabelled = cbpe_estimate(reference=fitted, probabilities=probabilities, labels=np.full(4, -1))

    # then
    assert partly.labelled == 3
    assert partly.accuracy.realized == pytest.approx(2 / 3)
    assert partly.f1_macro.realized == pytest.approx(realized_f1_macro(np.array([0, 0, 1]), np.array([0, 1, 1])))
    assert unlabelled.labelled == 0
    assert unlabelled.accuracy.realized is None and unlabelled.f1_macro.realized is None


def test_a_class_absent_from_the_reference_keeps_its_raw_probabilities() -> None:
    """A class that never occurs (or occurs a handful of times) is not calibrated to zero; estimates stay finite."""
    # given
    rng = np.random.default_rng(10)
    probabilities = rng.dirichlet([4, 4, 1, 1], size=3_000)
    labels = rng.choice([0, 1, 3], size=3_000, p=[0.5, 0.499, 0.001])

    # when
    fitted = cbpe_reference_prepare(probabilities=probabilities, labels=labels, calibration="isotonic")
    estimate = cbpe_estimate(reference=fitted, probabilities=probabilities[:400])

    # then
    assert fitted.calibrated == (True, True, False, False)
    assert fitted.calibrate(np.array([[0.0, 0.0, 1.0, 0.0]]))[0, 2] > 0
    assert np.isfinite(estimate.f1_macro.value) and 0 <= estimate.f1_macro.lower <= estimate.f1_macro.upper <= 1


@pytest.mark.parametrize("rows", [1, 2, 5])
def test_a_tiny_reference_fits_without_calibration(rows: int) -> None:
    """A reference of a few rows cannot support a calibrator: the raw probabilities are used, with a defined band."""
    # given
    rng = np.random.default_rng(rows)
    probabilities = rng.dirichlet([1, 1, 1], size=rows)
    labels = np.arange(rows) % 3

    # when
    fitted = cbpe_reference_prepare(probabilities=probabilities, labels=labels)
    estimate = cbpe_estimate(reference=fitted, probabilities=probabilities)

    # then
    assert fitted.calibrated == (False, False, False)
    assert estimate.accuracy.value == pytest.approx(probabilities.max(axis=1).mean())
    for metric in (estimate.accuracy, estimate.f1_macro):
        assert 0.0 <= metric.lower <= metric.value <= metric.upper <= 1.0


def test_a_reference_of_one_class_is_accepted() -> None:
    """A binary reference where every label is the same class fits (nothing to calibrate) and estimates."""
    # given
    rng = np.random.default_rng(11)
    positive = rng.random(500)
    probabilities = np.column_stack((1 - positive, positive))

    # when
    fitted = cbpe_reference_prepare(probabilities=probabilities, labels=np.zeros(500, dtype=int))
    estimate = cbpe_estimate(reference=fitted, probabilities=probabilities)

    # then
    assert fitted.calibrated == (False,)
    assert estimate.accuracy.value == pytest.approx(probabilities.max(axis=1).mean())


@pytest.mark.parametrize(
    ("probabilities", "labels", "message"),
    [
        (np.array([0.2, 0.8]), np.array([1]), "shape"),
        (np.ones((3, 1)), np.array([0, 0, 0]), "shape"),
        (np.empty((0, 2)), np.empty(0, dtype=int), "shape"),
        (np.array([[np.nan, 0.5], [0.5, 0.5]]), np.array([0, 1]), "NaN"),
        (np.array([[1.5, -0.5], [0.5, 0.5]]), np.array([0, 1]), r"\[0, 1\]"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 2]), "class indices"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, -1]), "class indices"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0.0, 0.5]), "integer"),
        (np.array([[0.5, 0.5], [0.5, 0.5]]), np.array([0, 1, 1]), "labels must have shape"),
    ],
)
def test_bad_reference_input_is_rejected(probabilities: np.ndarray, labels: np.ndarray, message: str) -> None:
    """Shapes, non-finite or out-of-range probabilities and bad labels raise a ValueError that says what is wrong."""
    with pytest.raises(ValueError, match=message):
        cbpe_reference_prepare(probabilities=probabilities, labels=labels)


def test_bad_window_input_is_rejected() -> None:
    """A window with another class count, no rows, bad labels or a negative band width is refused."""
    # given
    fitted = uncalibrated_reference(3)
    window = np.full((4, 3), 1 / 3)

    # then
    with pytest.raises(ValueError, match="2 classes, the reference has 3"):
        cbpe_estimate(reference=fitted, probabilities=np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match="shape"):
        cbpe_estimate(reference=fitted, probabilities=np.empty((0, 3)))
    with pytest.raises(ValueError, match="class indices"):
        cbpe_estimate(reference=fitted, probabilities=window, labels=np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="band_sigmas"):
        cbpe_estimate(reference=fitted, probabilities=window, band_sigmas=-1.0)
    with pytest.raises(ValueError, match="calibration"):
        cbpe_reference_prepare(probabilities=window, labels=np.zeros(4, dtype=int), calibration="platt")


# ---------------------------------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------------------------------


def test_reference_round_trips_through_bytes_without_pickle() -> None:
    """from_bytes(to_bytes()) gives the same state and the same estimates; the blob holds no Python objects."""
    # given
    rng = np.random.default_rng(12)
    probabilities = rng.dirichlet(np.full(3, 0.5), size=4_000)
    sharpened = probabilities**1.5 / (probabilities**1.5).sum(axis=1, keepdims=True)
    fitted = cbpe_reference_prepare(probabilities=sharpened, labels=labels_draw(rng, probabilities))
    window = sharpened[:700]

    # when
    blob = fitted.to_bytes()
    loaded = CBPEReference.from_bytes(blob)

    # then
    assert loaded.class_count == fitted.class_count and loaded.calibrated == fitted.calibrated
    for ours, theirs in zip(fitted.x_thresholds + fitted.y_thresholds, loaded.x_thresholds + loaded.y_thresholds):
        np.testing.assert_array_equal(ours, theirs)
    assert loaded.accuracy_unit_std == fitted.accuracy_unit_std
    assert loaded.reference_f1_macro == fitted.reference_f1_macro
    assert cbpe_estimate(reference=loaded, probabilities=window) == cbpe_estimate(
        reference=fitted, probabilities=window
    )
    with np.load(io.BytesIO(blob), allow_pickle=False) as arrays:
        assert all(arrays[name].dtype != object for name in arrays.files)


def test_from_bytes_rejects_other_blobs() -> None:
    """A drift reference blob, a future format version or garbage is refused with a ValueError."""
    # given
    numeric = numeric_reference_prepare(names=["a"], values=np.arange(10.0).reshape(-1, 1)).to_bytes()
    buffer = io.BytesIO()
    with np.load(io.BytesIO(uncalibrated_reference(2).to_bytes())) as arrays:
        np.savez(buffer, **{**{name: arrays[name] for name in arrays.files}, "format_version": np.array(99)})

    # then
    with pytest.raises(ValueError, match="not a CBPE reference"):
        CBPEReference.from_bytes(numeric)
    with pytest.raises(ValueError, match="format version 99"):
        CBPEReference.from_bytes(buffer.getvalue())
    with pytest.raises(ValueError):
        CBPEReference.from_bytes(b"not an npz file")


def test_estimate_serializes_to_json() -> None:
    """as_dict() is JSON-safe and carries both metrics with their bands."""
    # given
    estimate = cbpe_estimate(
        reference=uncalibrated_reference(3), probabilities=np.full((6, 3), 1 / 3), labels=np.array([0, 1, 2, 0, 1, 2])
    )

    # when
    document = json.loads(json.dumps(estimate.as_dict()))

    # then
    assert document["window_size"] == 6 and document["labelled"] == 6
    assert set(document["accuracy"]) == {
        "value",
        "lower",
        "upper",
        "sampling_error",
        "reference_sampling_error",
        "window_sampling_error",
        "realized",
    }
    assert document["f1_macro"]["realized"] == pytest.approx(estimate.f1_macro.realized)
    assert len(document["expected_confusion"]) == 3
