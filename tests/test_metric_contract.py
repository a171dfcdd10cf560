"""Every registered metric passes the shared contract of ``tests/metric_tester.py`` (one case per metric and
component: tiny offline models, a handful of images)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.metric_tester import CASES, MetricCase, MetricTester, TinyWeights, check_distributed

IDS = [c.id for c in CASES]


@pytest.fixture(scope="module")
def tester(tmp_path_factory: pytest.TempPathFactory) -> MetricTester:
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


def test_tester_catches_a_broken_metric(tester: MetricTester) -> None:
    """The harness can fail: a metric whose headline drops the NaN-skipping, and one whose per-sample scores
    depend on the batch, are caught."""
    from dataclasses import replace

    from longbench.metrics.base import PerSampleMetric

    class BatchDependent(PerSampleMetric):
        name = "batch-dependent"
        columns = {"batch-dependent": True}  # noqa: RUF012

        def score(self, images, items):
            return {"batch-dependent": [float(len(images))] * len(images)}

        def compute(self):
            return {"batch-dependent": float(self._values("batch-dependent").sum())}

    case = replace(CASES[0], id="broken", metric="batch-dependent", build=lambda w: BatchDependent())
    with pytest.raises(AssertionError, match="compute"):
        tester.check_per_sample_agrees(case)
    with pytest.raises(AssertionError, match="batches of 1"):
        tester.check_batch_size_invariance(case)
