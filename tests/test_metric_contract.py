"""Every registered metric passes the shared contract of ``tests/metric_tester.py`` (one case per metric and
component: tiny offline models, a handful of images)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from tests.metric_tester import CASES, MetricCase, MetricTester, TinyWeights, check_distributed

IDS = [c.id for c in CASES]


@pytest.fixture(scope="module")
def tester(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MetricTester]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the CPUs are shared by parallel runs; one thread avoids oversubscription
    yield MetricTester(TinyWeights(tmp_path_factory.mktemp("contract-weights")))
    torch.set_num_threads(threads)


def test_every_builtin_metric_has_a_case() -> None:
    from longbench.metrics import BUILTIN

    assert set(BUILTIN) <= {c.metric for c in CASES}, f"no contract case for {set(BUILTIN) - {c.metric for c in CASES}}"
    assert len(set(IDS)) == len(IDS)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_columns_declared_equal_computed(tester: MetricTester, case: MetricCase) -> None:
    tester.check_columns(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_headline_is_mean_of_per_sample(tester: MetricTester, case: MetricCase) -> None:
    tester.check_per_sample_agrees(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_batch_size_invariance(tester: MetricTester, case: MetricCase) -> None:
    tester.check_batch_size_invariance(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_update_order_invariance(tester: MetricTester, case: MetricCase) -> None:
    tester.check_order_invariance(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_merged_halves_equal_one_metric(tester: MetricTester, case: MetricCase) -> None:
    tester.check_merge_state(case)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_functional_twin_equals_class(tester: MetricTester, case: MetricCase) -> None:
    tester.check_functional(case)


# Python >= 3.12 warns on fork() in a threaded process; the children only run torch with one thread, as
# DataLoader workers do
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded, use of fork:DeprecationWarning")
def test_two_processes_equal_one_process(tester: MetricTester, tmp_path: Path) -> None:
    check_distributed(tester, CASES, tmp_path)


def test_tester_catches_broken_metrics(tester: MetricTester) -> None:
    """The harness can fail: a headline that is not the mean of the per-sample scores, scores that depend on
    the batch, and scores that depend on what was seen before are all caught."""
    from dataclasses import replace

    from longbench.metrics.base import PerSampleMetric

    class BatchDependent(PerSampleMetric):
        name = "broken"
        columns = {"broken": True}  # noqa: RUF012

        def score(self, images, items):
            return {"broken": [float(len(images))] * len(images)}

        def compute(self):
            return {"broken": float(self._values("broken").sum())}

    class HistoryDependent(PerSampleMetric):
        name = "broken"
        columns = {"broken": True}  # noqa: RUF012
        seen = 0

        def score(self, images, items):
            self.seen += len(images)
            return {"broken": [float(self.seen)] * len(images)}

    batch = replace(CASES[0], id="broken-batch", metric="broken", build=lambda w: BatchDependent())
    with pytest.raises(AssertionError, match="mean of per_sample"):
        tester.check_per_sample_agrees(batch)
    with pytest.raises(AssertionError, match="batches of 1"):
        tester.check_batch_size_invariance(batch)
    history = replace(CASES[0], id="broken-history", metric="broken", build=lambda w: HistoryDependent())
    with pytest.raises(AssertionError, match="samples in order"):
        tester.check_order_invariance(history)
    with pytest.raises(AssertionError, match="merged halves"):
        tester.check_merge_state(history)
