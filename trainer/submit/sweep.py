"""`./submit.sh tune --local`: the study in hptuning.yaml run on this machine with Optuna, N trials at a
time, stopped early by the same median rule, and resumable.

Why Optuna: its samplers cover Vertex AI's algorithms (TPE, a Bayesian-style sampler, for the default
ALGORITHM_UNSPECIFIED; RandomSampler for RANDOM_SEARCH; GridSampler for GRID_SEARCH), a pruner of
ours over its trial history applies Vertex AI's median stopping rule, and an SQLite study under the
output folder keeps every finished trial across a Ctrl-C or a crash. OSS Vizier (google-vizier) matches Vertex AI more exactly
but runs a gRPC service and pulls in JAX: much heavier for a laptop sweep.
"""

from __future__ import annotations

import signal
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import optuna
import sqlalchemy.exc

from trainer.submit import local
from trainer.submit import study as studies
from trainer.submit.errors import SubmitError
from trainer.values import shown

POLL_SECONDS = 0.2  # how often a running trial's metric file is read: a pruned trial stops within ~1 epoch


def _sampler(study, seed: int) -> optuna.samplers.BaseSampler:
    algorithm = study.algorithm.name
    if algorithm == "GRID_SEARCH":  # only discrete, integer and categorical parameters: study_rules checked it
        grid: dict[str, list] = {}
        for name, d in distributions(study).items():
            if isinstance(d, optuna.distributions.CategoricalDistribution):
                grid[name] = list(d.choices)
            elif isinstance(d, optuna.distributions.IntDistribution):
                grid[name] = list(range(d.low, d.high + 1))
        return optuna.samplers.GridSampler(grid, seed=seed)
    if algorithm == "RANDOM_SEARCH":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


class VertexMedianPruner(optuna.pruners.BasePruner):
    """Vertex AI's median automated stopping rule, as its StudySpec reference states it: "stops a pending Trial if
    the Trial's best objective_value is strictly below the median 'performance' of all completed Trials reported
    up to the Trial's last measurement. Currently, 'performance' refers to the running average of the objective
    values reported by the Trial in each measurement." (aiplatform_v1.StudySpec.MedianAutomatedStoppingSpec).
    Optuna's MedianPruner compares the value at one step with the others' at that step, which stops more."""

    def prune(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
        values = [v for s, v in trial.intermediate_values.items() if s <= step]
        best = max(values) if maximize else min(values)
        performances = []
        for done in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)):
            reported = [v for s, v in done.intermediate_values.items() if s <= step]
            if reported:
                performances.append(statistics.mean(reported))
        if not performances:
            return False
        median = statistics.median(performances)
        return best < median if maximize else best > median


def _pruner(study) -> optuna.pruners.BasePruner:
    """Vertex AI's median rule when the study asks for it, else none."""
    return VertexMedianPruner() if "median_automated_stopping_spec" in study else optuna.pruners.NopPruner()


def distributions(study) -> dict[str, optuna.distributions.BaseDistribution]:
    """The study's parameters as Optuna distributions (UNIT_LOG_SCALE: sampled on a log scale)."""
    found: dict[str, optuna.distributions.BaseDistribution] = {}
    for p in study.parameters:
        kind, log = studies.value_spec(p), p.scale_type.name == "UNIT_LOG_SCALE"
        if kind == "double_value_spec":
            spec = p.double_value_spec
            found[p.parameter_id] = optuna.distributions.FloatDistribution(spec.min_value, spec.max_value, log=log)
        elif kind == "integer_value_spec":
            spec = p.integer_value_spec
            found[p.parameter_id] = optuna.distributions.IntDistribution(
                int(spec.min_value), int(spec.max_value), log=log
            )
        else:
            values = p.discrete_value_spec.values if kind == "discrete_value_spec" else p.categorical_value_spec.values
            found[p.parameter_id] = optuna.distributions.CategoricalDistribution(list(values))
    return found


def trial_value(reports: list[tuple[int, float]], best_measurement: bool) -> float | None:
    """A finished trial's value as StudySpec.measurement_selection_type picks it: the last measurement, or with
    BEST_MEASUREMENT the best one (the highest: study_rules holds the goal to MAXIMIZE); None without any."""
    if not reports:
        return None
    return max(value for _, value in reports) if best_measurement else reports[-1][1]


class Sweep:
    """One local study: asks Optuna for parameters, runs each trial as a local Vertex-style job, reports each
    epoch's metric as the trainer writes it, and stops (SIGTERM) a trial the pruner prunes."""

    def __init__(
        self,
        study,
        trial_spec,
        trainer_args: list[str],
        output_dir: Path,
        image: str | None = None,
        seed: int = 0,
        trial_timeout: int | None = None,
    ) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.metric = study.metrics[0]
        self.best_measurement = study.measurement_selection_type.name == "BEST_MEASUREMENT"
        self.distributions = distributions(study)  # what each trial samples, the same for all
        self.base_args = [*trial_spec.worker_pool_specs[0].container_spec.args, *trainer_args]
        self.output_dir = output_dir.resolve() if image else output_dir  # mounted at the same path in the image
        self.image = image  # None: trials run as processes here
        self.trial_timeout = trial_timeout  # seconds, None: none
        maximize = self.metric.goal.name == "MAXIMIZE"
        direction = optuna.study.StudyDirection.MAXIMIZE if maximize else optuna.study.StudyDirection.MINIMIZE
        cannot = "cannot hold or continue this study there"
        local.output_folder(output_dir, cannot)
        try:  # the same folder again continues its study
            self.optuna = optuna.create_study(
                study_name="local", storage=f"sqlite:///{output_dir / 'study.db'}", load_if_exists=True,
                direction=direction, sampler=_sampler(study, seed), pruner=_pruner(study),
            )  # fmt: skip
        except (OSError, ValueError, sqlalchemy.exc.SQLAlchemyError) as e:
            why = getattr(e, "strerror", None) or str(e).splitlines()[0]
            raise SubmitError(f"--output-dir {shown(str(output_dir))}: {cannot} ({why}); pass a new folder") from None
        self.lock = threading.Lock()
        self.stopping = threading.Event()

    def _run(self, trial: optuna.Trial) -> None:
        values = studies.flag_values(trial.params)
        folder = self.output_dir / str(trial.number + 1)
        folder.mkdir(parents=True, exist_ok=True)
        print(f"trial {trial.number + 1}: {' '.join(f'--{k}={v}' for k, v in values.items())}", flush=True)
        processes: list = []  # the trial's replicas, filled in as they start, to be stopped if pruned
        result: list[int] = []
        args = [*self.base_args, *(f"--{k}={v}" for k, v in values.items())]
        job_id = f"local-tune-{trial.number + 1}"

        def run() -> None:
            with open(folder / "log.txt", "w") as log:
                pools = [(1, args)]
                trial_id, started = str(trial.number + 1), lambda task, process: processes.append(process)
                result.append(local.run_worker_pools(pools, folder, job_id, trial_id, log, started, self.image))

        runner = threading.Thread(target=run)
        runner.start()
        reported, pruned, metric_file = set(), False, studies.chief_metric_file(folder)
        deadline, timed_out = time.monotonic() + (self.trial_timeout or float("inf")), False
        while runner.is_alive():
            runner.join(POLL_SECONDS)
            for step, value in studies.reports(metric_file, self.metric.metric_id):
                if step not in reported:  # each epoch once (the final evaluation repeats the last one)
                    reported.add(step)
                    with self.lock:
                        trial.report(value, step)
            if reported and not pruned:  # at every poll: a trial that completes elsewhere moves the median
                with self.lock:
                    pruned = trial.should_prune()
            if not timed_out and time.monotonic() > deadline and runner.is_alive():
                timed_out = True  # as Vertex AI stops a trial's job past its Scheduling.timeout: the trial fails
                print(f"trial {trial.number + 1}: ran past its timeout of {self.trial_timeout}s; stopped", flush=True)
            if (pruned or timed_out or self.stopping.is_set()) and runner.is_alive():
                for process in processes:
                    if process.poll() is None:
                        process.send_signal(signal.SIGTERM)  # a clean stop: the trial's outputs so far are kept
        trial.set_user_attr("epochs", len(reported))
        reports = studies.reports(metric_file, self.metric.metric_id)
        final = trial_value(reports, self.best_measurement)
        with self.lock:
            if pruned:
                self.optuna.tell(trial, state=optuna.trial.TrialState.PRUNED)
            elif result == [0] and final is not None and not timed_out:
                self.optuna.tell(trial, final)
            else:  # failed, or interrupted (SIGTERM): a rerun runs another trial in its place
                self.optuna.tell(trial, state=optuna.trial.TrialState.FAIL)

    def _worker(self, budget: list[int]) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
                trial = self.optuna.ask(self.distributions)
            self._run(trial)

    def run(self, max_trials: int, parallel: int) -> int:
        """Run trials until the study has max_trials finished ones; prints the table; returns the exit status."""
        for stale in self.optuna.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
            self.optuna.tell(stale.number, state=optuna.trial.TrialState.FAIL)  # killed with the last sweep
        done = [t for t in self.optuna.get_trials(deepcopy=False) if t.state != optuna.trial.TrialState.FAIL]
        if done:
            print(
                f"continuing the study in {self.output_dir / 'study.db'}: {len(done)} trials already finished",
                flush=True,
            )
        budget = [max_trials - len(done)]
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            futures = [pool.submit(self._worker, budget) for _ in range(max(1, parallel))]
            try:
                while not all(f.done() for f in futures):
                    time.sleep(POLL_SECONDS)
            except KeyboardInterrupt:
                self.stopping.set()
                print(f"\ninterrupted: finished trials are kept in {self.output_dir / 'study.db'}; rerun to continue",
                      file=sys.stderr, flush=True)  # fmt: skip
                return 130
            for future in futures:
                future.result()
        return self.table()

    def table(self) -> int:
        """The trials with their parameters, metric, epochs and state, then the best one."""
        names = {"COMPLETE": "done", "PRUNED": "stopped", "FAIL": "failed"}
        print(f"\n{'trial':>5}  {self.metric.metric_id:>10}  {'epochs':>6}  {'state':<8} parameters")
        for t in self.optuna.get_trials(deepcopy=False):
            shown = "-" if t.value is None else f"{t.value:.4f}"
            params = " ".join(f"{k}={v}" for k, v in studies.flag_values(t.params).items())
            print(
                f"{t.number + 1:>5}  {shown:>10}  {t.user_attrs.get('epochs', 0):>6}  {names.get(t.state.name, t.state.name):<8} {params}"
            )
        complete = self.optuna.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if not complete:
            print(f"error: no trial finished; see the logs under {self.output_dir}", file=sys.stderr)
            return 1
        best = self.optuna.best_trial
        flags = studies.flag_values(best.params)
        value = best.value if best.value is not None else float("nan")  # a COMPLETE trial has its value
        print(studies.best_line(str(best.number + 1), self.metric.metric_id, value, flags))
        return 0
