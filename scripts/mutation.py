"""Mutation testing of one part of simkit against its own test folder (mutmut 3.8.1).

    python scripts/mutation.py policies            # simkit/policies/ against tests/policies
    python scripts/mutation.py metrics             # simkit/metrics/  against tests/metrics
    python scripts/mutation.py engine              # the engine modules against tests/sim
    python scripts/mutation.py sim --only simkit/sim/run.py   # one file of simkit/sim/
    python scripts/mutation.py policies --check simkit.policies.thresholds.x_BudgetPolicy__mutmut_1
    python scripts/mutation.py policies --max-children 2 --json policies.json

It takes tens of minutes on a 2-core machine, so it is not part of ``.ci/run``. What it does:

1. copies the checkout's files (``git ls-files``: tracked and untracked-but-not-ignored) into a
   fresh working folder (``--workdir``, default ``$TMPDIR/simkit-mutation-<target>``), so the
   checkout is never touched and a run can go on while you edit;
2. appends a ``[tool.mutmut]`` section to that copy's ``pyproject.toml``: mutate only the
   target's files (``only_mutate``), select tests only from the target's own folder
   (``pytest_add_cli_args_test_selection``), stop each mutant's run at the first failure
   (``-x``) and deselect the tests that read module source (mutmut rewrites every function
   into a trampoline, so an ``ast`` scan of the source fails for reasons that say nothing about
   behaviour; see ``DESELECT``);
3. runs ``mutmut run`` there, then reads every mutant's status (``mutmut results --all``);
4. prints a table and JSON: killed, survived, no tests, timeout, the score ``killed /
   (killed + survived + no tests + suspicious)`` -- a mutant that no test of the folder executes
   counts as a survivor -- and the surviving mutants' names (``mutmut show NAME`` in the
   working folder prints a diff).

``--check NAME ...`` (re)runs only the named mutants and prints their status, to confirm that
a given mutant is killed; a name may be an ``fnmatch`` pattern (``'...xǁRunǁbook_batch__mutmut_*'``:
every mutant of one new function). ``--only GLOB ...`` mutates only the target's files that match (a
per-file run: ``sim`` as a whole takes hours on 2 cores). ``--tests PATH ...`` selects tests
of the target's folder only: a mutant that survives them might still be killed by the others,
so the score is a lower bound of the folder's (``--tests fast``: ``SIM_FAST_TESTS``, tests/sim's
unit-level files, a sixth of its time). ``--refresh`` copies the checkout's
current files over an existing working folder and keeps mutmut's results (a mutant's result
stands unless its function changed); with ``--recheck`` every mutant that is not killed (or
not run yet, after an interrupted run) is run again: after adding tests this turns a full run
into the score with the new tests (a killed mutant stays killed when tests are only added).

Tests marked ``slow`` are left out under mutmut (``-m "not slow"``): every surviving mutant
runs all the tests that execute it, and one slow test would make a run take days. So are the
tests in ``DESELECT``.

Equivalent mutants (no input can tell them apart from the original) are listed in
``EQUIVALENT`` with the reason; they are reported, not counted out of the score.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

#: target -> (files to mutate, as fnmatch globs under the repository, its test folder)
TARGETS = {
    "policies": (["simkit/policies/*.py"], "tests/policies"),
    "metrics": (["simkit/metrics/*.py"], "tests/metrics"),
    # what simkit/sim/engine.py held before it was split (issue 10): the run, its arrays and
    # request table, the live fleet state, the job and simulate() itself
    "engine": (
        [
            "simkit/sim/engine.py",
            "simkit/sim/run.py",
            "simkit/sim/arrays.py",
            "simkit/sim/requests.py",
            "simkit/sim/fleet_state.py",
            "simkit/sim/jobs.py",
        ],
        "tests/sim",
    ),
    # every module of the simulator; use --only to run one file at a time
    "sim": (["simkit/sim/*.py"], "tests/sim"),
}

#: tests deselected under mutmut only: those that read module source with ``ast`` (they fail on
#: mutmut's trampolines, whatever the mutant) and the one that builds a wheel of the checkout
#: (packaging, not behaviour; it needs files mutmut does not copy).
_SIM_DESELECT = [
    "tests/sim/test_demo_policies.py::test_a_wheel_carries_the_sample_traces_with_their_licences",
    # 100,000 requests through an M/M/4 queue (over a minute): the Lindley-recursion test on
    # one slot and the load-balancer tests pin the same queueing code in seconds
    "tests/sim/test_queueing_theory.py::test_m_m_c_mean_wait_agrees_with_erlang_c",
]
#: tests/sim's unit-level files (about 45 s of its 275 s): ``sim --tests`` with these gives a
#: lower bound of the score against all of tests/sim in hours less
SIM_FAST_TESTS = [
    "tests/sim/test_engine.py",
    "tests/sim/test_run_meta_and_inputs.py",
    "tests/sim/test_live_state.py",
    "tests/sim/test_live_state_edges.py",
    "tests/sim/test_context_window.py",
    "tests/sim/test_rate_limits.py",
    "tests/sim/test_prefix_cache.py",
    "tests/sim/test_load_balancers.py",
    "tests/sim/test_queueing_theory.py",
    "tests/sim/test_max_tokens_and_empty.py",
    "tests/sim/test_run_rules.py",
    "tests/sim/test_tier_arrays.py",
    "tests/sim/test_by_tier.py",
    "tests/sim/test_process_clock.py",
]
DESELECT = {
    "metrics": ["tests/metrics/test_metrics_imports.py"],
    "engine": _SIM_DESELECT,
    "sim": _SIM_DESELECT,
}

#: surviving mutants that no input can tell from the original, with the reason (names as
#: ``mutmut results`` prints them for the code at the commit that lists them; a change to the
#: function renumbers its mutants, so re-read them with ``mutmut show NAME`` then)
EQUIVALENT: dict[str, str] = {
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_65": "the score columns are lists of Python floats: float64 either way",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_67": "the score columns are lists of Python floats: float64 either way",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_78": "one score column per score name: always the same length",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_81": "one score column per score name: always the same length",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_82": "one score column per score name: always the same length",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_86": "prefix blocks exist only in memory, routed in one slice from request 0: [None:n] is [0:n]",
    "simkit.sim.requests.xǁRequestTableǁrequest_batch__mutmut_87": "prefix blocks exist only in memory, routed in one slice up to the last request: [0:None] is [0:n]",
    "simkit.policies.thresholds.xǁThresholdPolicyǁroute_batch__mutmut_3": "a RequestBatch's scores are float64 arrays already (RequestTable.request_batch)",
    "simkit.policies.thresholds.xǁThresholdPolicyǁroute_batch__mutmut_5": "a RequestBatch's scores are float64 arrays already (RequestTable.request_batch)",
    "simkit.policies.baselines.xǁTaskHeuristicPolicyǁroute_batch__mutmut_5": "category and source are columns of one batch: always the same length",
    "simkit.policies.baselines.xǁTaskHeuristicPolicyǁroute_batch__mutmut_8": "category and source are columns of one batch: always the same length",
    "simkit.policies.baselines.xǁTaskHeuristicPolicyǁroute_batch__mutmut_9": "category and source are columns of one batch: always the same length",
    "simkit.policies.baselines.xǁTaskHeuristicPolicyǁroute_batch__mutmut_10": "the per-pair cache only saves time: a miss recomputes the same tier",
    "simkit.policies.baselines.xǁTaskHeuristicPolicyǁroute_batch__mutmut_11": "the per-pair cache only saves time: a miss recomputes the same tier",
    "simkit.metrics.curves.x_two_tier_curve__mutmut_52": "a cost becomes float64 through float() or vector() either way",
    "simkit.metrics.curves.x_two_tier_curve__mutmut_54": "a cost becomes float64 through float() or vector() either way",
    "simkit.metrics.curves.x_two_tier_curve__mutmut_83": "_cutoff_matrix converts the thresholds to float64 again",
    "simkit.metrics.curves.x_two_tier_curve__mutmut_85": "_cutoff_matrix converts the thresholds to float64 again",
    "simkit.metrics.curves.x_two_tier_curve__mutmut_89": "numpy reads any negative size in reshape as the unknown one",
    "simkit.metrics.curves.x__sweep__mutmut_4": "tied scores fall on the same side of every searchsorted bound",
    "simkit.metrics.curves.x__sweep__mutmut_6": "tied scores fall on the same side of every searchsorted bound",
    "simkit.metrics.curves.x__sweep__mutmut_8": "tied scores fall on the same side of every searchsorted bound",
    "simkit.metrics.curves.x__sweep__mutmut_35": "counts of known qualities are as exact in float64; only ratios leave",
    "simkit.metrics.curves.x__sweep__mutmut_37": "counts of known qualities are as exact in float64; only ratios leave",
    "simkit.metrics.curves.x__sweep__mutmut_67": "k >= 2 here (tiered_curve checks it first)",
    "simkit.metrics.curves.x__sweep__mutmut_91": "side='left' is searchsorted's default",
    "simkit.metrics.curves.x__curve__mutmut_56": "where no quality is known the sum is 0 too: 0/0 is NaN either way",
    "simkit.metrics.curves.x__cost_matrix__mutmut_2": "matrix() converts to float64 and words a failure the same",
    "simkit.metrics.curves.x__cost_matrix__mutmut_4": "matrix() converts to float64 and words a failure the same",
    "simkit.metrics.curves.x__cost_matrix__mutmut_10": "matrix() converts to float64 and words a failure the same",
    "simkit.metrics.curves.x__cost_matrix__mutmut_12": "matrix() converts to float64 and words a failure the same",
    "simkit.metrics.routing.x__curve_from_counts__mutmut_3": "equal counts are the same nested selection: equal quality",
    "simkit.metrics.routing.x__curve_from_counts__mutmut_5": "equal counts are the same nested selection: equal quality",
    "simkit.metrics.routing.x__curve_from_counts__mutmut_7": "equal counts are the same nested selection: equal quality",
    "simkit.metrics.routing.x__decile_points__mutmut_10": "counts are only divided by n",
    "simkit.metrics.routing.x__decile_points__mutmut_12": "counts are only divided by n",
    "simkit.metrics.routing.x_routellm_random_curve__mutmut_36": "the sweep reads only the scores' order, which scaling keeps",
    "simkit.metrics.routing.x_routellm_random_curve__mutmut_59": "sort=True is groupby's default",
    "simkit.metrics.routing.x_routellm_oracle_curve__mutmut_23": "zero gains add nothing to a prefix sum or a partial budget",
    "simkit.metrics.routing.x_threshold_curve__mutmut_19": "the routing curve reads no cost column",
    "simkit.metrics.routing.x_threshold_curve__mutmut_20": "the routing curve reads no cost column",
    "simkit.metrics.routing.x__first_crossing__mutmut_10": "a point equal to the target after one below it ends an earlier pair",
    "simkit.metrics.routing.x__first_crossing__mutmut_17": "float('NAN') is NaN",
    "simkit.metrics.routing.x__frozen__mutmut_3": "its input is float64 already (vector())",
    "simkit.metrics.routing.x__frozen__mutmut_6": "its input is float64 already (vector())",
    "simkit.metrics.routing.x__frozen__mutmut_4": "its input is a fresh copy already (vector())",
    "simkit.metrics.routing.x__frozen__mutmut_7": "its input is a fresh copy already (vector())",
    "simkit.metrics.routing.x__frozen__mutmut_10": "its input is a fresh copy already (vector())",
    "simkit.metrics.routing.x__frozen__mutmut_11": "None is falsy: the array is read-only either way",
    "simkit.metrics.routerbench.x__integral__mutmut_3": "a repeated end point adds a zero-width trapezoid",
    "simkit.metrics.routerbench.x__integral__mutmut_4": "a repeated end point adds a zero-width trapezoid",
    "simkit.metrics.routerbench.x_oracle_router__mutmut_32": "Index.astype(str) is object dtype already",
    "simkit.metrics.routerbench.x_oracle_router__mutmut_34": "Index.astype(str) is object dtype already",
    "simkit.metrics.routerbench.x_oracle_router__mutmut_43": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x_oracle_router__mutmut_45": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_115": "the first model is always tried: every row's last index is overwritten",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_118": "the first model is always tried: every row's last index is overwritten",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_119": "the first model is always tried: every row's last index is overwritten",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_120": "the first model is always tried: every row's last index is overwritten",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_172": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_174": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_176": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x_cascade_outcomes__mutmut_178": "pd.array infers the string dtype from str values",
    "simkit.metrics.routerbench.x__points__mutmut_30": "sort=True is groupby's default",
    "simkit.metrics.routerbench.x__points__mutmut_41": "the values and their index are float64 already",
    "simkit.metrics.routerbench.x__points__mutmut_44": "the values and their index are float64 already",
    "simkit.metrics.routerbench.x_aiq_code__mutmut_54": "the scores are Python floats: float64 either way",
    "simkit.metrics.routerbench.x_aiq_code__mutmut_57": "the scores are Python floats: float64 either way",
    "simkit.metrics.latency.x_slo_attainment__mutmut_37": "a comparison is bool already",
    "simkit.metrics.latency.x_slo_attainment__mutmut_39": "a comparison is bool already",
    "simkit.metrics.latency.x_slo_attainment__mutmut_38": "the array belongs to a temporary Series nobody else reads",
    "simkit.metrics.latency.x_slo_attainment__mutmut_40": "the array belongs to a temporary Series nobody else reads",
    "simkit.metrics.latency.x_slo_attainment__mutmut_46": "the array belongs to a temporary Series nobody else reads",
    "simkit.metrics.latency.x_slo_attainment__mutmut_63": "sort=True is groupby's default",
    "simkit.metrics.operations.x__counts__mutmut_30": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_78": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_85": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_90": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_94": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_106": "counts are summed and cast to int64 at the end",
    "simkit.metrics.operations.x_event_counts__mutmut_40": "isin() gives bools without NA",
    "simkit.metrics.operations.x_event_counts__mutmut_41": "isin() gives bools without NA",
    "simkit.metrics.operations.x_event_counts__mutmut_45": "isin() gives bools without NA",
    "simkit.metrics.operations.x_event_counts__mutmut_68": "every column is a numpy array: the index only labels rows",
    "simkit.metrics.operations.x_event_counts__mutmut_70": "every column is a numpy array: the index only labels rows",
    "simkit.metrics.operations.x_event_counts__mutmut_107": "privacy is checked to hold only True/False: int64 either way",
    "simkit.metrics.operations.x_event_counts__mutmut_113": "sort=True is groupby's default",
    "simkit.metrics.operations.x_tier_shares__mutmut_15": "the per-run totals are reindexed by run before use",
    "simkit.metrics.operations.x_tier_shares__mutmut_17": "the per-run totals are reindexed by run before use",
    "simkit.metrics.operations.x_tier_shares__mutmut_20": "the per-run totals are reindexed by run before use",
    "simkit.metrics.operations.x_tier_shares__mutmut_28": "sort=True is groupby's default",
    "simkit.metrics.summary.x__run_parameters__mutmut_4": "every part is reindexed by the runs afterwards",
    "simkit.metrics.summary.x__run_parameters__mutmut_28": "every part is reindexed by the runs afterwards",
    "simkit.metrics.summary.x__run_parameters__mutmut_7": "the groups' order does not change which columns are constant",
    "simkit.metrics.summary.x__run_parameters__mutmut_9": "the groups' order does not change which columns are constant",
    "simkit.metrics.summary.x__run_parameters__mutmut_12": "the groups' order does not change which columns are constant",
    "simkit.metrics.pareto.x__front_nd__mutmut_1": "any block size gives the same front (blocks only bound memory)",
    "simkit.metrics.pareto.x__front_nd__mutmut_9": "the caller assigns the mask into a bool array",
    "simkit.metrics.pareto.x__front_nd__mutmut_11": "the caller assigns the mask into a bool array",
    "simkit.metrics.planning.x_capacity_rps__mutmut_29": "integer rates and TTFTs compare and interpolate to the same floats",
    "simkit.metrics.planning.x_capacity_rps__mutmut_35": "integer rates and TTFTs compare and interpolate to the same floats",
    "simkit.metrics.planning.x_cost_crossovers__mutmut_39": "hi is in the set of points already",
    "simkit.metrics.planning.x_cost_crossovers__mutmut_42": "lo is in the set of points already",
    "simkit.metrics.summary.x_summarize_runs__mutmut_23": "every part is reindexed by the runs afterwards",
    "simkit.metrics.summary.x_summarize_runs__mutmut_61": "unstack() takes the last level, tier, by default",
    "simkit.metrics.summary.x_summarize_runs__mutmut_122": "unstack() takes the last level, tier, by default",
    "simkit.metrics.summary.x_summarize_runs__mutmut_135": "by='tier' is utilisation's default",
    "simkit.metrics.summary.x_summarize_runs__mutmut_116": "every run has endpoints: the tier costs cover every run",
    "simkit.metrics.summary.x_summarize_runs__mutmut_117": "every run has endpoints: the tier costs cover every run",
    "simkit.metrics.summary.x_summarize_runs__mutmut_118": "reindex() without labels changes nothing",
    "simkit.metrics.summary.x_summarize_runs__mutmut_119": "every run has endpoints: the tier costs cover every run",
    "simkit.metrics.summary.x_summarize_runs__mutmut_127": "every run has endpoints: the tier costs cover every run",
    "simkit.metrics.summary.x_summarize_runs__mutmut_142": "every part is reindexed by the runs afterwards",
    "simkit.metrics.summary.x_summarize_runs__mutmut_157": "every part is indexed by exactly the sorted runs already",
    "simkit.metrics.summary.x_summarize_runs__mutmut_161": "every part covers every run: no count is NaN",
    "simkit.metrics.summary.x_summarize_runs__mutmut_162": "every part covers every run: counts are int64 already",
    "simkit.metrics.quality.x_quality_summary__mutmut_54": "every column is a numpy array: the index only labels rows",
    "simkit.metrics.quality.x_quality_summary__mutmut_56": "every column is a numpy array: the index only labels rows",
    "simkit.metrics.quality.x_quality_summary__mutmut_62": "counts are summed and cast to int64 at the end",
    "simkit.metrics.quality.x_quality_summary__mutmut_65": "counts are summed and cast to int64 at the end",
    "simkit.metrics.quality.x_quality_summary__mutmut_69": "counts are summed and cast to int64 at the end",
    "simkit.metrics.quality.x_quality_summary__mutmut_36": "None is falsy, as False",
    "simkit.metrics.pareto.x_pareto_front__mutmut_67": "errors='raise' is to_numeric's default",
    "simkit.metrics.pareto.x_pareto_front__mutmut_115": "the n-D path finds the same front as the 2-D one (only slower)",
    "simkit.metrics.operations.x_utilisation__mutmut_123": "sort=True is groupby's default",
    "simkit.metrics.planning.x__crossings__mutmut_6": "grid[:-1] and grid[1:] always have the same length",
    "simkit.metrics.planning.x__crossings__mutmut_9": "grid[:-1] and grid[1:] always have the same length",
    "simkit.metrics.planning.x__crossings__mutmut_13": "grid[:-1] and grid[1:] always have the same length",
    "simkit.metrics.planning.x__crossings__mutmut_88": "a step row needs d1 * d2 < 0, so d1 is never 0 there",
    "simkit.metrics.routing.x__first_crossing__mutmut_8": "y[0] < target here: the first i with y[i+1] >= target is the first crossing",
    "simkit.metrics.queueing.x_erlang_c__mutmut_58": "k = 0 maps B(0) = 1 to 1: the recursion starts the same",
    "simkit.metrics.cost.x_gpu_cost_per_1k_usd__mutmut_9": "float('NAN') is NaN",
    "simkit.metrics.routerbench.x__model_matrix__mutmut_9": "pandas turns <NA> into NaN for a float64 array by itself",
    "simkit.metrics.routerbench.x__model_matrix__mutmut_11": "pandas turns <NA> into NaN for a float64 array by itself",
    "simkit.metrics.routerbench.x_aiq_paper__mutmut_85": "the scores are Python floats: float64 either way",
    "simkit.metrics.routerbench.x_aiq_paper__mutmut_88": "the scores are Python floats: float64 either way",
    "simkit.metrics.routerbench.x_ndch_code__mutmut_25": "a chord through the point itself gives its own quality, already in the max",
    "simkit.metrics.routerbench.x_ndch_code__mutmut_26": "a chord through the point itself gives its own quality, already in the max",
    "simkit.policies.composite.xǁSpillOverPolicyǁroute__mutmut_32": "the extra turn of the loop revisits order[start + 1], already judged",
    "simkit.policies.baselines.xǁOraclePolicyǁfrom_trace__mutmut_2": "quality_matrix(None) reads every model of the trace; each tier picks its own",
    "simkit.sim.run.xǁRunǁattempt_done__mutmut_49": "AttemptView.verify() answers False for a failed attempt before reading its quality",
    "simkit.sim.by_tier.xǁ_HostedReplayǁfeed__mutmut_32": "Run.start() sets a job's n_in before anything reads it",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfeed__mutmut_19": "Run.start() sets a job's n_in before anything reads it",
    "simkit.sim.by_tier.xǁ_HostedReplayǁ__init____mutmut_12": "the first group marker only has to differ from every arrival time",
    "simkit.sim.by_tier.xǁ_HostedReplayǁfeed__mutmut_15": "a callback at an arrival's exact time raises TieFound whenever it fires",
    "simkit.sim.by_tier.xǁ_HostedReplayǁ_fire_until__mutmut_6": "a callback at an arrival's exact time raises TieFound whenever it fires",
    "simkit.sim.by_tier.xǁ_Routerǁroute__mutmut_17": "every tier index is set by the routing loop before it is read",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfeed__mutmut_3": "a self-hosted delivery is read by nothing but its record: when it is applied only bounds memory",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfeed__mutmut_53": "a self-hosted delivery is read by nothing but its record: when it is applied only bounds memory",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfeed__mutmut_54": "a self-hosted delivery is read by nothing but its record: when it is applied only bounds memory",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁsettle__mutmut_6": "a self-hosted delivery is read by nothing but its record: when it is applied only bounds memory",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfinish__mutmut_2": "every event comes before time infinity, whatever the rest of the key",
    "simkit.sim.by_tier.xǁ_SelfHostedReplayǁfinish__mutmut_3": "every event comes before time infinity, whatever the rest of the key",
    "simkit.sim.by_tier.xǁTierReplaysǁfinish__mutmut_2": "the horizon also takes every request's end, at or after its arrival event",
    "simkit.sim.by_tier.xǁTierReplaysǁfinish__mutmut_3": "an empty trace is refused before a run, so some arrival event exists",
    "simkit.sim.by_tier.xǁTierReplaysǁfinish__mutmut_4": "the horizon also takes every request's end, at or after its arrival event",
    "simkit.sim.by_tier.xǁTierReplaysǁfinish__mutmut_5": "an empty trace is refused before a run, so some arrival event exists",
    "simkit.sim.process_clock.xǁProcessClockǁrun_until__mutmut_4": "scheduling numbers are unique: no event's key equals the key it runs up to",
    "simkit.sim.process_clock.xǁProcessClockǁrun_until__mutmut_22": "an ended process's target is only compared with scheduling numbers",
    "simkit.sim.process_clock.xǁProcessClockǁrun_until__mutmut_37": "a target that is not a scheduling number is only compared with them, until succeed() sets one",
    "simkit.sim.process_clock.xǁ_Processǁ__init____mutmut_3": "process() sets the target right after creating the process",
    "simkit.sim.by_tier.xǁArrivalEventsǁadd__mutmut_4": "every dispatch time is set by the loop before it is read",
    "simkit.sim.by_tier.xǁTierReplaysǁ__init____mutmut_14": "with no self-hosted tier the clock only walks the arrival events: the same count and last time",
    "simkit.sim.by_tier.xǁTierReplaysǁ__init____mutmut_22": "add() sets the tie times before anything reads them (an empty trace is refused)",
    "simkit.sim.by_tier.xǁTierReplaysǁadd__mutmut_6": "None among the tie times matches no callback time",
    "simkit.sim.by_tier.xǁ_DecisionStateǁ__init____mutmut_2": "the decision time is set before each route() call",
    "simkit.sim.by_tier.xǁ_DecisionStateǁ__init____mutmut_3": "the decision time is set before each route() call",
    "simkit.sim.by_tier.xǁ_TierClockǁ__init____mutmut_1": "the clock is set to each request's time before the tier runs",
    "simkit.sim.by_tier.xǁ_TierClockǁ__init____mutmut_2": "the clock is set to each request's time before the tier runs",
    "simkit.sim.engine.x_hash_trace__mutmut_3": "hash_pandas_object reads index=None as false: the index is left out either way",
    "simkit.sim.engine.x_hash_trace__mutmut_13": "hash_pandas_object reads index=None as false: the index is left out either way",
    "simkit.sim.engine.x__config_hash__mutmut_21": "a missing prefix_cache read as None is as false as False",
    "simkit.sim.engine.x_check_prefix_column__mutmut_4": "a missing prefix_cache read as None is as false as False",
    "simkit.sim.engine.x_finish_config_hash__mutmut_26": "a missing prefix_cache read as None is as false as False",
    "simkit.sim.run.xǁRunǁattempt_done__mutmut_52": "float('NAN') is NaN",
    "simkit.sim.run.xǁRunǁattempt_done__mutmut_83": "joining a single tier name gives the name",
    "simkit.sim.run.xǁRunǁfinish__mutmut_5": "float('INF') is inf",
    "simkit.sim.run.xǁRunǁ_allocate_results__mutmut_4": "float('NAN') is NaN",
    "simkit.sim.run.xǁRunǁ_allocate_results__mutmut_11": "written for every request when it finishes; simulate refuses a run that leaves one unfinished",
    "simkit.sim.run.xǁRunǁ_allocate_results__mutmut_26": "written for every request when it finishes; simulate refuses a run that leaves one unfinished",
    "simkit.sim.run.xǁRunǁ_allocate_results__mutmut_29": "written for every request when it finishes; simulate refuses a run that leaves one unfinished",
    "simkit.sim.run.xǁRunǁ_allocate_results__mutmut_32": "written for every request when it finishes; simulate refuses a run that leaves one unfinished",
    "simkit.sim.run.xǁRunǁ_requests_frame__mutmut_8": "results already holds 'end' (RESULT_LISTS), the same values, which requests_frame converts to float64 itself",
    "simkit.sim.run.xǁRunǁ_requests_frame__mutmut_9": "results already holds 'end' (RESULT_LISTS), the same values, which requests_frame converts to float64 itself",
    "simkit.sim.run.xǁRunǁ_endpoints_frame__mutmut_4": "one runtime is built per fleet tier: the two always have the same length",
    "simkit.sim.run.xǁRunǁ_endpoints_frame__mutmut_7": "one runtime is built per fleet tier: the two always have the same length",
    "simkit.sim.run.xǁRunǁ_endpoints_frame__mutmut_8": "one runtime is built per fleet tier: the two always have the same length",
    "simkit.sim.run.xǁRunǁ_endpoints_frame__mutmut_58": "the rows are dicts whose keys follow ENDPOINT_COLUMNS: the same columns in the same order",
    "simkit.sim.run.xǁRunǁ_endpoints_frame__mutmut_60": "the rows are dicts whose keys follow ENDPOINT_COLUMNS: the same columns in the same order",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_4": "self.end holds Python floats: float64 either way",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_6": "self.end holds Python floats: float64 either way",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_15": "every request ends at or after its arrival, so the last arrival never sets the horizon",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_20": "every request ends at or after its arrival, so the last arrival never sets the horizon",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_18": "n = 0 never reaches a Run: simulate refuses an empty trace",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_19": "n = 0 never reaches a Run: simulate refuses an empty trace",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_21": "n = 0 never reaches a Run: simulate refuses an empty trace",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_24": "n = 0 never reaches a Run: simulate refuses an empty trace",
    "simkit.sim.run.xǁRunǁsend__mutmut_51": "a refused attempt's n_in is never read: the next attempt sets it again",
    "simkit.sim.run.xǁRunǁsend__mutmut_54": "a cost is booked only for a completed attempt",
    "simkit.sim.run.xǁRunǁsend__mutmut_61": "a cost is booked only for a completed attempt",
    "simkit.sim.run.xǁRunǁstart_request__mutmut_7": "Job's n_in is set by send() before any tier reads it",
    "simkit.sim.engine.x__config_hash__mutmut_11": "hash_pandas_object reads index=None as false: the index is left out either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_13": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_14": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_15": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_16": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_22": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_23": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_24": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_25": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_31": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_32": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_33": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_34": "Trace stores quality and cost_usd as float64 and output_tokens as Int64, which to_numpy turns into float64 with NaN either way",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_43": "the trace refuses a missing model name, so the comparison has no NA to fill",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_44": "the trace refuses a missing model name, so the comparison has no NA to fill",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_45": "the trace refuses a missing model name, so the comparison has no NA to fill",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_46": "the trace refuses a missing model name, so the comparison has no NA to fill",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_48": "the trace refuses a missing model name, so the comparison has no NA to fill",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_67": "the general path (get_indexer) gives the same arrays as the in-order shortcut; string ids compare the same as object or string arrays",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_68": "the general path (get_indexer) gives the same arrays as the in-order shortcut; string ids compare the same as object or string arrays",
    "simkit.sim.arrays.x__per_model_arrays__mutmut_69": "the general path (get_indexer) gives the same arrays as the in-order shortcut; string ids compare the same as object or string arrays",
    "simkit.sim.arrays.x_int_column__mutmut_3": "an unknown count's fill value is never read (masked by 'known', or an error); Int64 after fillna is int64 either way",
    "simkit.sim.arrays.x_int_column__mutmut_5": "an unknown count's fill value is never read (masked by 'known', or an error); Int64 after fillna is int64 either way",
    "simkit.sim.arrays.x_tier_arrays__mutmut_161": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_163": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_164": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_165": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_166": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_167": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_168": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_169": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_171": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_173": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_174": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_176": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_178": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.arrays.x_tier_arrays__mutmut_179": "a Fleet has at least one tier, so k > 0",
    "simkit.sim.jobs.xǁJobǁ__init____mutmut_10": "set by send() for every attempt before anything reads it",
    "simkit.sim.jobs.xǁJobǁ__init____mutmut_11": "set by send() for every attempt before anything reads it",
    "simkit.sim.jobs.xǁJobǁ__init____mutmut_14": "set by send() for every attempt before anything reads it",
    "simkit.sim.jobs.xǁJobǁ__init____mutmut_3": "set by send() for every attempt before anything reads it",
    "simkit.sim.jobs.xǁJobǁ__init____mutmut_9": "set by send() for every attempt before anything reads it",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_22": "read only when the trace has prefix blocks, which sets it",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_64": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_67": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_68": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_69": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_8": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_81": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁ__init____mutmut_82": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁrequest_view__mutmut_10": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁrequest_view__mutmut_3": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁrequest_view__mutmut_6": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.requests.xǁRequestTableǁrequest_view__mutmut_9": "Trace fills missing tags with '' when it is built, so there is no NA to fill",
    "simkit.sim.run.xǁRunǁto_frames__mutmut_16": "the clock never passes the last end: every event comes before the end of its request (an assertion held over tests/sim, sweep, policies and fleet)",
}

#: mutmut status -> our bucket; "no tests" counts as a survivor in the score
KILLED = {"killed", "timeout", "caught by type check"}
SURVIVED = {"survived", "no tests", "suspicious"}


def copy_checkout(workdir: Path, *, keep: bool = False) -> None:
    """Copy the checkout's tracked and untracked-but-not-ignored files into ``workdir``
    (emptied first unless ``keep``: then mutmut's ``mutants/`` folder and results stay)."""
    if workdir.exists() and not keep:
        shutil.rmtree(workdir)
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=REPO,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in files:
        if not raw:
            continue
        rel = Path(raw.decode())
        src = REPO / rel
        if not src.is_file():
            continue  # deleted in the working tree
        dst = workdir / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)


def mutmut_config(
    target: str, only: list[str] | None = None, tests_subset: list[str] | None = None
) -> str:
    """The ``[tool.mutmut]`` section for ``target``."""
    globs, tests = TARGETS[target]
    selection = [tests]
    if tests_subset == ["fast"]:
        tests_subset = SIM_FAST_TESTS
    if tests_subset:
        outside = [t for t in tests_subset if not t.startswith(tests.rstrip("/") + "/")]
        if outside:
            raise SystemExit(f"--tests {outside[0]!r} is not inside {target}'s {tests}")
        selection = list(tests_subset)
    if only:
        outside = [g for g in only if not any(fnmatch.fnmatch(g, t) for t in globs)]
        if outside:
            raise SystemExit(f"--only {outside[0]!r} is not one of {target}'s files {globs}")
        globs = list(only)
    args = ["-x", "-q", "-p", "no:cacheprovider", "-m", "not slow"]
    for path in DESELECT.get(target, []):
        args += ["--deselect" if "::" in path else "--ignore", path]

    def toml_list(values: list[str]) -> str:
        return "[" + ", ".join(json.dumps(v) for v in values) + "]"

    return (
        "\n[tool.mutmut]\n"
        'source_paths = ["simkit"]\n'
        'also_copy = ["traces", "classifiers", "benchmarks"]\n'
        f"only_mutate = {toml_list(globs)}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(selection)}\n"
        f"pytest_add_cli_args = {toml_list(args)}\n"
        "use_git_change_detection = false\n"
    )


def statuses(workdir: Path, env: dict[str, str]) -> dict[str, str]:
    """mutant name -> status, from ``mutmut results --all true``."""
    out = subprocess.run(
        [sys.executable, "-m", "mutmut", "results", "--all", "true"],
        cwd=workdir,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name:
            result[name] = status
    return result


def score(status_by_name: dict[str, str]) -> dict:
    """Counts per status and the score with untested mutants counted as survivors."""
    counts: dict[str, int] = {}
    for status in status_by_name.values():
        counts[status] = counts.get(status, 0) + 1
    killed = sum(n for s, n in counts.items() if s in KILLED)
    survived = sum(n for s, n in counts.items() if s in SURVIVED)
    return {
        "counts": dict(sorted(counts.items())),
        "killed": killed,
        "survived_incl_no_tests": survived,
        "score": killed / (killed + survived) if killed + survived else float("nan"),
        "survivors": sorted(n for n, s in status_by_name.items() if s in SURVIVED),
        "equivalent_survivors": sorted(
            n for n, s in status_by_name.items() if s in SURVIVED and n in EQUIVALENT
        ),
    }


def checked(patterns: list[str], status_by_name: dict[str, str]) -> dict[str, str]:
    """The status of every mutant ``--check`` named: a name, or an ``fnmatch`` pattern (as
    ``mutmut run`` takes them: ``'simkit.sim.run.xǁRunǁbook_batch__mutmut_*'``) standing for
    the mutants it matches; one that matches none is ``'not found'``."""
    out: dict[str, str] = {}
    for pat in patterns:
        hits = {n: s for n, s in status_by_name.items() if fnmatch.fnmatchcase(n, pat)}
        out.update(hits or {pat: status_by_name.get(pat, "not found")})
    return out


def main(argv: list[str] | None = None) -> int:
    """Run mutmut on one target and print the table and JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("target", choices=sorted(TARGETS))
    p.add_argument("--workdir", type=Path, help="fresh working folder (deleted first)")
    p.add_argument("--max-children", type=int, default=2, help="parallel mutant runs")
    p.add_argument("--check", nargs="+", metavar="MUTANT", help="run only these mutants")
    p.add_argument("--only", nargs="+", metavar="GLOB", help="mutate only these files")
    p.add_argument(
        "--tests",
        nargs="+",
        metavar="PATH",
        help="run only these tests of the target's folder (the score is then a lower bound)",
    )
    p.add_argument("--reuse", action="store_true", help="keep the working folder as it is")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="copy the checkout over the working folder, keeping mutmut's results",
    )
    p.add_argument(
        "--recheck",
        action="store_true",
        help="run every mutant that is not killed (survived, untested or not yet run)",
    )
    p.add_argument("--json", type=Path, help="write the result here too")
    args = p.parse_args(argv)
    workdir = args.workdir or Path(tempfile.gettempdir()) / f"simkit-mutation-{args.target}"
    if args.refresh or not args.reuse:
        copy_checkout(workdir, keep=args.refresh)
        with (workdir / "pyproject.toml").open("a") as f:
            f.write(mutmut_config(args.target, args.only, args.tests))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
    names = list(args.check or [])
    if args.recheck:
        names += [
            n for n, s in statuses(workdir, env).items() if s in SURVIVED or s == "not checked"
        ]
        if not names:
            print("every mutant is killed already")
    if names or not args.recheck:
        subprocess.run([*run, *names], cwd=workdir, env=env, check=True)
    status_by_name = statuses(workdir, env)
    if args.check:
        status_by_name = checked(args.check, status_by_name)
        for name, status in status_by_name.items():
            print(f"{name}: {status}")
        return 0 if all(s in KILLED for s in status_by_name.values()) else 1
    result = {"target": args.target, "workdir": str(workdir), **score(status_by_name)}
    print(f"\n{'target':<10} {'mutants':>8} {'killed':>7} {'survived+untested':>18} {'score':>7}")
    print(
        f"{args.target:<10} {len(status_by_name):>8} {result['killed']:>7} "
        f"{result['survived_incl_no_tests']:>18} {result['score']:>7.1%}"
    )
    print("counts:", result["counts"])
    n_eq = len(result["equivalent_survivors"])
    print(f"of the survivors, {n_eq} are listed as equivalent (EQUIVALENT); the score counts them")
    text = json.dumps(result, indent=1)
    if args.json:
        args.json.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
