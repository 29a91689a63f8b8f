"""Reading Prometheus' text format in tests."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True)
class Scrape:
    """One scrape: the families by name, and each sample's value by name and labels."""

    families: dict[str, str]  # family name → type
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float]

    def value(self, name: str, **labels: str) -> float:
        """The value of sample `name` with exactly these labels; KeyError if absent."""
        return self.samples[(name, frozenset(labels.items()))]

    def get(self, name: str, default: float = 0.0, **labels: str) -> float:
        return self.samples.get((name, frozenset(labels.items())), default)

    def labels(self, name: str, label: str) -> dict[str, float]:
        """{label value: sample value} of the samples of `name` with only that label."""
        return {
            dict(key)[label]: value
            for (sample, key), value in self.samples.items()
            if sample == name and {k for k, _ in key} == {label}
        }


def parse(text: str) -> Scrape:
    families: dict[str, str] = {}
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        families[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(families, samples)
