"""The evaluation API behind ``longbench eval``: run, publish, gate — and return everything the CLI shows.

::

    from longbench.evaluate import evaluate
    from longbench.gates import Gates
    from longbench.runner import EvalConfig

    ev = evaluate(EvalConfig(models=["images:./out"], suite="longbench-v1"),
                  Gates(fail_under={"denscore": 21.5}), leaderboard="store/")
    ev.runs[0].results["metrics"]["denscore"]["value"], ev.failures, ev.ok

Every input is checked before anything is generated (the config, the gates and their columns, the output
folders); then the models are run (:func:`longbench.runner.run_eval`), the runs are added to the
leaderboard store and the viewer, and the gates are applied. The command line only maps its flags to
these arguments and the returned :class:`Evaluation` to its output and exit code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from longbench.gates import Gates, check_thresholds
from longbench.runner import EvalConfig, Progress, RunOutput


@dataclass
class RegressionCheck:
    """The regression gate of one run: the comparison and where its Markdown summary was written."""

    run: RunOutput
    gate: Any  # leaderboard.gate.GateResult
    summary: Path


@dataclass
class Evaluation:
    """What ``evaluate`` did. ``runs`` is empty on the non-main processes of a multi-process launch.

    Attributes:
        runs: one RunOutput per model.
        threshold_failures: ``"<spec>: <column> = <value> < <threshold>"`` per failed ``--fail-under``.
        regressions: one regression check per run (with ``--compare-to``).
        baseline: the ``--compare-to`` path.
        leaderboard: ``(stored run directory, added)`` per run (``added`` False: already in the store).
        viewer: the viewer summary (``--view``), or None.
    """

    runs: list[RunOutput]
    threshold_failures: list[str] = field(default_factory=list)
    regressions: list[RegressionCheck] = field(default_factory=list)
    baseline: str | None = None
    leaderboard: list[tuple[Path, bool]] = field(default_factory=list)
    viewer: Any = None

    @property
    def failures(self) -> list[str]:
        """Every failed gate, one line each."""
        return self.threshold_failures + [f"{r.run.results['model']['spec']}: regression against {self.baseline}"
                                          for r in self.regressions if not r.gate.ok]

    @property
    def ok(self) -> bool:
        """No gate failed."""
        return not self.failures


def evaluate(config: EvalConfig, gates: Gates | None = None, *, leaderboard: str | None = None,
             view: str | None = None, progress: Progress | None = None) -> Evaluation:
    """Evaluate ``config``'s models, add the runs to a leaderboard store and a viewer, and apply the gates.

    Args:
        config: the run.
        gates: thresholds and the regression gate (none by default).
        leaderboard: a leaderboard store to add the runs to.
        view: a folder to build the side-by-side viewer of the runs in.
        progress: progress hooks.

    Raises:
        LongbenchError: bad input (config, gates, a column no metric reports, an unwritable folder, a bad
            baseline), found before anything is generated; or a failure while running.
    """
    from longbench import runner
    from longbench.fileio import atomic_write_text, check_writable

    gates = gates or Gates()
    gates.validate()
    baseline = gates.load_baseline()
    config.validate()
    check_writable(config.output, "--output", directory=True)
    for flag, folder in (("--leaderboard", leaderboard), ("--view", view)):
        if folder:
            check_writable(folder, flag, directory=True)
    runs = runner.run_eval(config, progress, required_columns=gates.required_columns())
    ev = Evaluation(runs, baseline=gates.compare_to)
    if not runs:
        return ev  # a non-main process of a multi-process run: the main process publishes and gates
    if leaderboard:
        from leaderboard.store import ingest_run

        ev.leaderboard = [ingest_run(leaderboard, o.run_dir) for o in runs]
    if view:
        from longbench.viewer import build_viewer

        ev.viewer = build_viewer([o.run_dir for o in runs], view)
    for o in runs:
        ev.threshold_failures += check_thresholds(o.results, gates.fail_under)
    if baseline is not None:
        from leaderboard.gate import compare

        for o in runs:
            gate = compare(o.results, baseline, gates.max_regression)
            atomic_write_text(o.run_dir / "summary.md", gate.markdown)
            ev.regressions.append(RegressionCheck(o, gate, o.run_dir / "summary.md"))
    return ev
