"""Reference datasets (prepared once at upload), per-model drift settings, and persisted drift runs."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from predictions.models import MLModel, ModelVersion

from .statistics import CATEGORICAL_TESTS, NUMERIC_TESTS


class ReferenceDataset(models.Model):
    """The data a model version is compared against, with its per-feature statistics prepared at upload."""

    FORMAT_CSV = "csv"
    FORMAT_PARQUET = "parquet"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="reference_datasets")
    name = models.CharField(max_length=200)
    file = models.FileField(upload_to="reference/%Y/%m/")
    file_format = models.CharField(max_length=10, choices=[(FORMAT_CSV, "CSV"), (FORMAT_PARQUET, "Parquet")])
    row_count = models.PositiveIntegerField(editable=False)
    numeric_reference = models.BinaryField(editable=False, help_text="drift.statistics.NumericReference bytes")
    categorical_reference = models.BinaryField(editable=False, help_text="drift.statistics.CategoricalReference bytes")
    class_counts = models.JSONField(editable=False, help_text="The model's predictions on the reference, per class.")
    label_column = models.CharField(
        max_length=200, blank=True, editable=False, help_text="The file's true-label column; empty: no labels."
    )
    reference_scores = models.BinaryField(
        null=True,
        editable=False,
        help_text="npz: the model's probabilities on the reference rows [n, classes] and their true class indices "
        "(-1 without a label column), scored once at upload.",
    )
    cbpe_reference = models.BinaryField(
        null=True,
        editable=False,
        help_text="drift.estimation.CBPEReference bytes (calibrators fitted on the labelled reference); null "
        "without labels.",
    )
    is_active = models.BooleanField(default=True)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["model_version"], condition=Q(is_active=True), name="one_active_reference_per_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.model_version}, {self.row_count} rows)"


class DriftSettings(models.Model):
    """How drift is computed for one model: window, minimum samples, the decision rule."""

    CORRECTION_CHOICES = [("bonferroni", "Bonferroni"), ("bh", "Benjamini-Hochberg"), ("none", "none")]

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="drift_settings")
    enabled = models.BooleanField(default=True)
    window_size = models.PositiveIntegerField(
        default=1000, validators=[MinValueValidator(1)], help_text="The last N predictions of the active version."
    )
    window_span = models.DurationField(
        null=True, blank=True, help_text="Optional: only predictions younger than this (e.g. 01:00:00)."
    )
    min_samples = models.PositiveIntegerField(default=100, validators=[MinValueValidator(1)])
    alpha = models.FloatField(default=0.05, validators=[MinValueValidator(1e-12), MaxValueValidator(1.0)])
    correction = models.CharField(max_length=12, choices=CORRECTION_CHOICES, default="bonferroni")
    use_threshold = models.BooleanField(default=True, help_text="A feature drifts only if its score > threshold.")
    use_p_value = models.BooleanField(default=True, help_text="A feature drifts only if its corrected p < alpha.")
    dataset_drift_share = models.FloatField(
        default=0.5,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="The dataset drifts when this share of features drifts.",
    )

    class Meta:
        verbose_name = "drift settings"
        verbose_name_plural = "drift settings"

    def __str__(self) -> str:
        return f"drift settings of {self.model}"


class FeatureTest(models.Model):
    """The test used for one feature of a model (defaults: KS for numeric, chi-squared for categorical)."""

    TEST_CHOICES = [(t, t) for t in dict.fromkeys((*NUMERIC_TESTS, *CATEGORICAL_TESTS))]

    settings = models.ForeignKey(DriftSettings, on_delete=models.CASCADE, related_name="feature_tests")
    feature_name = models.CharField(max_length=200)
    test = models.CharField(max_length=20, choices=TEST_CHOICES)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["settings", "feature_name"], name="unique_feature_test")]

    def __str__(self) -> str:
        return f"{self.feature_name}: {self.test}"


class DriftRun(models.Model):
    """One drift computation for a model: the window it read, the prediction drift, and per-feature results."""

    STATUS_OK = "ok"
    STATUS_PARTIAL = "partial"
    STATUS_INSUFFICIENT = "insufficient_data"
    STATUS_FAILED = "failed"
    STATUS_CHOICES = [(s, s) for s in (STATUS_OK, STATUS_PARTIAL, STATUS_INSUFFICIENT, STATUS_FAILED)]

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="drift_runs")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.SET_NULL, null=True, related_name="drift_runs")
    reference = models.ForeignKey(ReferenceDataset, on_delete=models.SET_NULL, null=True, related_name="drift_runs")
    status = models.CharField(max_length=20, choices=STATUS_CHOICES)
    message = models.TextField(blank=True)
    computed_at = models.DateTimeField()
    duration_seconds = models.FloatField()
    window_size = models.PositiveIntegerField(help_text="Predictions read.")
    feature_count = models.PositiveIntegerField(default=0)
    drifted_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    drifted_share = models.FloatField(default=0.0)
    dataset_drift = models.BooleanField(default=False)
    prediction_status = models.CharField(max_length=20, blank=True)
    prediction_score = models.FloatField(null=True, blank=True, help_text="JS distance (base 2) of class shares.")
    prediction_chi2 = models.FloatField(null=True, blank=True)
    prediction_p_value = models.FloatField(null=True, blank=True)
    prediction_threshold = models.FloatField(null=True, blank=True)
    prediction_drifted = models.BooleanField(default=False)
    prediction_reference_distribution = models.JSONField(default=dict)
    prediction_current_distribution = models.JSONField(default=dict)
    settings_snapshot = models.JSONField(default=dict)
    # Performance before the labels arrive (drift/estimation.py, CBPE): null when the reference has no labels.
    estimated_accuracy = models.FloatField(null=True, blank=True)
    estimated_accuracy_lower = models.FloatField(null=True, blank=True)
    estimated_accuracy_upper = models.FloatField(null=True, blank=True)
    estimated_f1 = models.FloatField(null=True, blank=True, help_text="Estimated macro F1.")
    estimated_f1_lower = models.FloatField(null=True, blank=True)
    estimated_f1_upper = models.FloatField(null=True, blank=True)
    realized_accuracy = models.FloatField(null=True, blank=True, help_text="Over the window's labelled predictions.")
    realized_f1 = models.FloatField(null=True, blank=True, help_text="Macro F1 over the window's labelled rows.")
    labelled_count = models.PositiveIntegerField(default=0, help_text="Window predictions with a true label.")
    label_coverage = models.FloatField(
        null=True, blank=True, help_text="Share of the window's predictions with a true label (null: empty window)."
    )
    estimation = models.JSONField(
        default=dict, blank=True, help_text="The full estimate (PerformanceEstimate.as_dict) or why there is none."
    )

    class Meta:
        ordering = ["-computed_at", "-id"]
        indexes = [models.Index(fields=["model", "-computed_at"], name="driftrun_model_recent")]

    def __str__(self) -> str:
        return f"drift of {self.model} at {self.computed_at:%Y-%m-%d %H:%M:%S}"


class FeatureDriftResult(models.Model):
    """The drift of one feature in one run."""

    run = models.ForeignKey(DriftRun, on_delete=models.CASCADE, related_name="features")
    feature_name = models.CharField(max_length=200)
    feature_type = models.CharField(max_length=20)
    test = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    score = models.FloatField(null=True)
    statistic = models.FloatField(null=True)
    p_value = models.FloatField(null=True)
    p_value_corrected = models.FloatField(null=True)
    threshold = models.FloatField()
    drifted = models.BooleanField(default=False)
    missing_share = models.FloatField(default=0.0)
    out_of_range_share = models.FloatField(
        default=0.0, help_text="Window rows with a finite value outside the reference's observed [min, max] (numeric)."
    )
    unseen_category_share = models.FloatField(
        default=0.0, help_text="Window rows whose category never occurs in the reference (categorical)."
    )
    window_size = models.PositiveIntegerField(default=0)
    reference_size = models.PositiveIntegerField(default=0)
    reference_summary = models.JSONField(default=dict)
    current_summary = models.JSONField(default=dict)
    chart = models.JSONField(
        default=dict, help_text="Display data of both distributions, format in drift/statistics/charts.py."
    )
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        score = "n/a" if self.score is None else f"{self.score:.3g}"
        return f"{self.feature_name} ({self.test}) = {score}"


class DriftJobStats(models.Model):
    """Running totals of drift jobs per model, persisted so they survive restarts and count jobs on any host.

    `duration_buckets` holds one count per bucket of DURATION_BUCKETS (seconds, upper bounds) plus one for +Inf,
    not cumulative; the collector (drift/metrics.py) exports them as the ml_drift_job_duration_seconds histogram.
    """

    DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

    model = models.OneToOneField(MLModel, on_delete=models.CASCADE, related_name="drift_job_stats")
    runs = models.PositiveBigIntegerField(default=0)
    failures = models.PositiveBigIntegerField(default=0)
    feature_failures = models.PositiveBigIntegerField(default=0)
    duration_sum = models.FloatField(default=0.0)
    duration_buckets = models.JSONField(default=list, help_text="Non-cumulative counts per DURATION_BUCKETS bucket.")

    class Meta:
        verbose_name_plural = "drift job stats"

    def __str__(self) -> str:
        return f"drift jobs of {self.model}: {self.runs} runs, {self.failures} failures"


class SuggestedThreshold(models.Model):
    """A drift threshold fitted to a reference for one feature (or the prediction: empty feature name) and one window
    size: the score a run reaches without drift at the quantile (drift/threshold_fitting.py)."""

    PREDICTION = ""  # feature_name of the prediction-drift suggestion

    reference = models.ForeignKey(ReferenceDataset, on_delete=models.CASCADE, related_name="suggested_thresholds")
    feature_name = models.CharField(max_length=200, blank=True, help_text="Empty: the prediction-drift threshold.")
    test = models.CharField(max_length=20)
    window_size = models.PositiveIntegerField()
    quantile = models.FloatField(help_text="Share of no-drift runs at or below the value.")
    confidence = models.FloatField(null=True, help_text="Probability that the value is at or above that quantile.")
    value = models.FloatField(null=True, help_text="Null: too few resamples produced a score.")
    median_score = models.FloatField(null=True, help_text="The typical no-drift score.")
    resamples = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["reference", "window_size", "feature_name"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference", "feature_name", "window_size"], name="unique_suggested_threshold"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.feature_name or 'prediction'}: {self.value} (window {self.window_size}, q={self.quantile})"
