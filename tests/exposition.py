"""Reading a Prometheus text exposition in tests: samples by name and labels, and the label sets of each family."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Exposition:
    """A parsed /metrics body."""

    text: str
    samples: Mapping[tuple[str, frozenset[tuple[str, str]]], float]
    types: Mapping[str, str]

    @classmethod
    def parse(cls, body: bytes | str) -> Exposition:
        """Parse the Prometheus text format (fails on malformed input)."""
        text = body.decode() if isinstance(body, bytes) else body
        samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        types: dict[str, str] = {}
        for family in text_string_to_metric_families(text):
            types[family.name] = family.type
            for sample in family.samples:
                samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
        return cls(text=text, samples=samples, types=types)

    def value(self, name: str, **labels: str) -> float | None:
        """The value of the sample with exactly these labels, or None."""
        return self.samples.get((name, frozenset(labels.items())))

    def get(self, name: str, **labels: str) -> float:
        """The value of a sample, 0 when it is absent (counters and buckets before their first increment)."""
        return self.value(name, **labels) or 0.0

    def series(self, name: str) -> list[dict[str, str]]:
        """The label sets of every sample named `name`."""
        return [dict(labels) for sample_name, labels in self.samples if sample_name == name]

    def names(self) -> set[str]:
        """Every sample name present."""
        return {name for name, _ in self.samples}
