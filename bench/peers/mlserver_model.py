"""The MLServer peer's model repository for bench/predict_bench.py: the demo's iris pipeline as a joblib file.

Run with the project's interpreter (it trains with demo/iris.py, the same code and seed as `manage.py load_demo`,
and needs scikit-learn of the same version as the MLServer virtualenv, which the benchmark pins to requirements.txt):

    .venv/bin/python bench/peers/mlserver_model.py DIR HTTP_PORT GRPC_PORT METRICS_PORT

writes DIR/iris/model.joblib, DIR/iris/model-settings.json (runtime mlserver_sklearn.SKLearnModel) and
DIR/settings.json (`parallel_workers: 0`: inference in the server process, as the issue asks; MLServer docs,
"Parallel Inference"). The V2 request that asks this runtime for probabilities names the output `predict_proba`
(mlserver-sklearn docs, "Model Outputs").
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import joblib

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from demo.iris import iris_demo_train


def repository_write(directory: Path, *, http_port: int, grpc_port: int, metrics_port: int) -> None:
    """Write the model repository and server settings into `directory`."""
    import skops.io

    artifact = iris_demo_train().artifact
    pipeline = skops.io.loads(artifact, trusted=skops.io.get_untrusted_types(data=artifact) or None)
    model_dir = directory / "iris"
    model_dir.mkdir(parents=True, exist_ok=True)
    joblib.dump(pipeline, model_dir / "model.joblib")
    (model_dir / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "iris",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "v1"},
            }
        )
    )
    (directory / "settings.json").write_text(
        json.dumps(
            {
                "http_port": http_port,
                "grpc_port": grpc_port,
                "metrics_port": metrics_port,
                "host": "127.0.0.1",
                "parallel_workers": 0,
                "debug": False,
            }
        )
    )


if __name__ == "__main__":
    repository_write(
        Path(sys.argv[1]), http_port=int(sys.argv[2]), grpc_port=int(sys.argv[3]), metrics_port=int(sys.argv[4])
    )
