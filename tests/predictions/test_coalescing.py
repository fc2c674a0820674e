"""Dynamic batching: concurrent jobs share one processing call, each gets its own answer, failures reach everyone."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from predictions.coalescing import Coalescer, ScoringJob


def job(value: float) -> ScoringJob:
    matrix = np.full((1, 2), value)
    return ScoringJob(model_input=matrix, log_matrix=matrix, started=time.perf_counter())


def test_a_lone_job_is_processed_alone_by_its_own_thread() -> None:
    """Without concurrency a job is one batch of one, processed in the caller's thread."""
    # given
    seen: list[tuple[int, int]] = []

    def process(jobs: list[ScoringJob]) -> None:
        seen.append((len(jobs), threading.get_ident()))
        for item in jobs:
            item.probabilities, item.ids = item.model_input * 2, ["id"]

    # when
    done = Coalescer(process).run(job(1.0))
    # then
    assert seen == [(1, threading.get_ident())]
    assert done.probabilities.tolist() == [[2.0, 2.0]]


def test_concurrent_jobs_are_batched_and_each_gets_its_own_answer() -> None:
    """Jobs arriving while a batch is processed are processed together next; nobody gets another's result."""
    # given
    batch_sizes: list[int] = []
    release = threading.Event()

    def process(jobs: list[ScoringJob]) -> None:
        batch_sizes.append(len(jobs))
        if len(batch_sizes) == 1:
            release.wait(5)  # hold the first batch until the others have queued
        for item in jobs:
            item.probabilities, item.ids = item.model_input + 100, [f"id-{item.model_input[0, 0]:.0f}"]

    coalescer = Coalescer(process)
    results: dict[int, ScoringJob] = {}

    def submit(value: int) -> None:
        results[value] = coalescer.run(job(float(value)))

    # when
    first = threading.Thread(target=submit, args=(0,))
    first.start()
    time.sleep(0.05)
    others = [threading.Thread(target=submit, args=(v,)) for v in range(1, 9)]
    for thread in others:
        thread.start()
    time.sleep(0.1)
    release.set()
    for thread in [first, *others]:
        thread.join(5)
    # then
    assert batch_sizes == [1, 8]
    for value, done in results.items():
        assert done.error is None
        assert done.probabilities.tolist() == [[value + 100.0, value + 100.0]]
        assert done.ids == [f"id-{value}"]
    assert coalescer.batches == 2 and coalescer.jobs == 9


def test_a_failed_batch_fails_every_job_in_it_and_the_next_batch_still_runs() -> None:
    """An exception from processing (e.g. the database) is given to each job of that batch; later jobs go on."""
    calls = {"n": 0}

    def process(jobs: list[ScoringJob]) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionError("database went away")
        for item in jobs:
            item.probabilities, item.ids = item.model_input, ["ok"]

    coalescer = Coalescer(process)
    failed = coalescer.run(job(1.0))
    assert isinstance(failed.error, ConnectionError)
    succeeded = coalescer.run(job(2.0))
    assert succeeded.error is None and succeeded.ids == ["ok"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_through_the_service_are_all_logged(register_iris: object) -> None:
    """Many threads predicting at once each get a committed row with their own features and prediction."""
    from django.db import connection
    from prometheus_client import REGISTRY

    from predictions.models import Prediction
    from predictions.services import PredictionResult, prediction_create

    def counted() -> tuple[float, float, float]:
        labels = {"model_name": "iris", "model_version": "1", "status": "success"}
        requests = REGISTRY.get_sample_value("ml_prediction_requests_total", labels) or 0.0
        latency = REGISTRY.get_sample_value("ml_prediction_latency_seconds_count", {"model_name": "iris"}) or 0.0
        classes = sum(
            REGISTRY.get_sample_value("ml_prediction_distribution_total", {"model_name": "iris", "predicted_class": c})
            or 0.0
            for c in ("setosa", "versicolor", "virginica")
        )
        return requests, latency, classes

    register_iris()
    before = counted()
    rows = [[4.0 + i / 10, 3.0, 1.0 + i / 5, 0.1 + i / 20] for i in range(24)]
    answers: dict[int, PredictionResult] = {}

    def call(index: int) -> None:
        try:
            answers[index] = prediction_create(model_name="iris", version=None, payload={"features": rows[index]})
        finally:
            connection.close()

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(rows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == len(rows)
    for index, answer in answers.items():
        stored = Prediction.objects.get(id=answer.prediction_ids[0])
        assert list(stored.feature_values().values()) == pytest.approx(rows[index])
        assert stored.predicted_label == answer.predicted_labels[0]
    # metrics are written once per batch, yet count every request and every row exactly
    assert [after - prior for after, prior in zip(counted(), before, strict=True)] == [24.0, 24.0, 24.0]


def test_the_model_cache_keeps_the_most_recent_models_and_their_coalescers_go_with_them() -> None:
    """With room for two models, loading a third drops the least recently used; once a model is dropped its
    coalescer is released too (workers are never recycled, so nothing may pile up)."""
    import gc

    from predictions.coalescing import CoalescerRegistry
    from predictions.inference import ModelCache

    class Loaded:  # stands in for LoadedModel: only identity and sha256 matter to the cache
        def __init__(self, sha256: str) -> None:
            self.sha256 = sha256

    cache = ModelCache(size=2)
    registry = CoalescerRegistry()
    loads: list[str] = []

    def loader(sha: str):  # type: ignore[no-untyped-def]
        def load() -> Loaded:
            loads.append(sha)
            return Loaded(sha)

        return load

    for version_id, sha in ((1, "a"), (2, "b"), (1, "a"), (3, "c")):
        model = cache.get(version_id=version_id, fingerprint=sha, loader=loader(sha))
        registry.get(model, lambda: Coalescer(lambda jobs: None))
    del model
    gc.collect()
    assert loads == ["a", "b", "c"]  # the second use of version 1 came from the cache
    assert cache.get(version_id=1, fingerprint="a", loader=loader("a")).sha256 == "a" and loads == ["a", "b", "c"]
    cache.get(version_id=2, fingerprint="b", loader=loader("b"))
    assert loads == ["a", "b", "c", "b"]  # version 2 had been dropped
    gc.collect()
    assert len(registry) <= 2
