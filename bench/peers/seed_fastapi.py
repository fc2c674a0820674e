"""A peer for bench/predict_bench.py: a FastAPI + prometheus_client service that behaves like the seed's sketch.

The seed design (shared/seed/monitoring-dashboard-design.txt, "FastAPI application with Prometheus metrics") answers
`POST /predict {"features": [floats]}` with the argmax of the first three features as the class and a random
confidence in [0.7, 0.99), records the request counter, latency histogram, batch size histogram, confidence histogram
and class counter of its metrics module, appends the features to in-memory drift windows, persists nothing, and
wraps every request in its `add_process_time_header` HTTP middleware (an `X-Process-Time` header). This file does the
same with the same metric names and buckets; it runs no model. It is not part of mlmonitor: the benchmark installs
FastAPI, uvicorn and prometheus_client into a virtualenv of its own and starts

    <venv>/bin/python -m uvicorn seed_fastapi:app --app-dir bench/peers --port PORT --workers 1 \
        --http h11 --loop asyncio

`--http h11 --loop asyncio` is what the seed's requirements (`uvicorn>=0.23.0`, without the `[standard]` extra) give.
With SEED_PEER_LEAN=1 the middleware is left out; the benchmark runs that variant (`seed-lean`) on uvicorn's fast
path (httptools, uvloop), a stricter peer than the sketch itself.

Endpoints: POST /predict -> {"prediction": int, "confidence": float, "latency_ms": float}; GET /metrics (text format).
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Awaitable, Callable

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from pydantic import BaseModel

MODEL_NAME, MODEL_VERSION = "classifier", "1.0.0"

PREDICTION_REQUESTS = Counter(
    "ml_prediction_requests_total", "Total prediction requests", ["model_name", "model_version", "status"]
)
PREDICTION_LATENCY = Histogram(
    "ml_prediction_latency_seconds",
    "Prediction latency in seconds",
    ["model_name"],
    buckets=[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
)
BATCH_SIZE = Histogram(
    "ml_batch_size", "Batch sizes for predictions", ["model_name"], buckets=[1, 5, 10, 25, 50, 100, 250, 500]
)
MODEL_CONFIDENCE = Histogram(
    "ml_model_confidence",
    "Model prediction confidence scores",
    ["model_name", "predicted_class"],
    buckets=[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99],
)
PREDICTION_DISTRIBUTION = Counter(
    "ml_prediction_distribution_total", "Distribution of predicted classes", ["model_name", "predicted_class"]
)

# The seed's drift detectors keep the last 1,000 values of each feature and of the predicted class.
feature_windows: dict[str, deque[float]] = {}
prediction_window: deque[int] = deque(maxlen=1000)

app = FastAPI(title="seed-like peer")


class PredictionRequest(BaseModel):
    """The seed's request body."""

    features: list[float]


class PredictionResponse(BaseModel):
    """The seed's response body."""

    prediction: int
    confidence: float
    latency_ms: float


@app.get("/metrics")
async def metrics() -> Response:
    """Prometheus metrics endpoint."""
    return Response(content=generate_latest(), media_type=CONTENT_TYPE_LATEST)


@app.post("/predict", response_model=PredictionResponse)
async def predict(request: PredictionRequest) -> PredictionResponse:
    """Simulated prediction with the seed's monitoring calls."""
    start = time.time()
    features = np.array(request.features)
    prediction = int(np.argmax(features[:3])) if len(features) >= 3 else 0
    confidence = float(np.random.uniform(0.7, 0.99))
    latency = time.time() - start
    PREDICTION_REQUESTS.labels(model_name=MODEL_NAME, model_version=MODEL_VERSION, status="success").inc()
    PREDICTION_LATENCY.labels(model_name=MODEL_NAME).observe(latency)
    BATCH_SIZE.labels(model_name=MODEL_NAME).observe(1)
    MODEL_CONFIDENCE.labels(model_name=MODEL_NAME, predicted_class=str(prediction)).observe(confidence)
    PREDICTION_DISTRIBUTION.labels(model_name=MODEL_NAME, predicted_class=str(prediction)).inc()
    for index, value in enumerate(features[:4]):
        feature_windows.setdefault(f"feature_{index}", deque(maxlen=1000)).append(float(value))
    prediction_window.append(prediction)
    return PredictionResponse(prediction=prediction, confidence=confidence, latency_ms=latency * 1000)


if os.environ.get("SEED_PEER_LEAN") != "1":

    @app.middleware("http")
    async def add_process_time_header(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        """The seed's middleware: the processing time of every request in an X-Process-Time header."""
        start_time = time.time()
        response = await call_next(request)
        response.headers["X-Process-Time"] = str(time.time() - start_time)
        return response
