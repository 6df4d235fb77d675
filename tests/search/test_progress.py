"""Honest progress: the time-left estimate replayed on a recorded run, and the live line."""

import io

import pandas as pd

from sksearch.search.progress import StudyCallback, TimeLeft, bar, progress_line
from sksearch.study.folder import StudyFolder


def events(folder):
    """A recorded run as it happened: each trial's epochs (at its start plus its epoch times)
    and its end, in time order."""
    table, curves = folder.table, folder.learning_curves
    t0 = table.started.min()
    out = []
    for row in table[table.status != "rejected"].itertuples():
        start = (row.started - t0).total_seconds()
        mine = curves[curves.trial_id == row.trial_id].sort_values("epoch")
        at = start
        for c in mine.itertuples():
            at += c.epoch_time
            out.append((at, "epoch", row.trial_id, c.epoch))
        out.append((max(at, (row.finished - t0).total_seconds()), "end", row.trial_id, None))
    return sorted(out, key=lambda e: (e[0], e[1] == "end"))


def test_the_estimate_never_rises_while_no_trial_ends_and_ends_at_zero(finished_study):
    folder = StudyFolder.open(str(finished_study[0]))
    space = folder.space
    left = TimeLeft(space.trials, space.scheduler.max_epochs, started=0.0)
    seen = []
    recorded = events(folder)
    for i, (at, kind, trial, epoch) in enumerate(recorded):
        if kind == "epoch":
            left.epoch(trial, epoch)
        else:
            left.end(trial)
        seen.append((kind, left.seconds(at)))
        if i + 1 < len(recorded):  # a reading between two events, when nothing happens
            seen.append(("tick", left.seconds((at + recorded[i + 1][0]) / 2)))
    values = [(k, v) for k, v in seen if v is not None]
    assert values and values[-1][1] == 0.0
    for (k1, v1), (k2, v2) in zip(values, values[1:]):
        if k2 != "end":
            assert v2 <= v1 + 1e-9, (values)


def test_cut_trials_remove_their_unused_epochs_from_the_budget():
    left = TimeLeft(planned=3, max_epochs=9, started=0.0)
    left.epoch("a", 1)
    assert left.remaining_epochs() == 8 + 2 * 9
    before = left.seconds(10.0)
    left.end("a")  # stopped at epoch 1: eight epochs it will never need
    assert left.remaining_epochs() == 2 * 9 and left.seconds(10.0) < before
    for t in "bc":
        for e in range(1, 10):
            left.epoch(t, e)
        left.end(t)
    assert left.remaining_epochs() == 0 and left.seconds(20.0) == 0.0


def test_a_terminal_gets_one_live_line_and_a_log_plain_lines(finished_study, monkeypatch):
    folder = StudyFolder.open(str(finished_study[0]))
    callback = StudyCallback(str(folder.root), folder.storage_url, folder.name, folder.space, folder.run.run_id)
    callback._table = folder.table

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr("sys.stdout", term)
    callback._print()
    callback._print()
    callback.end_live_line()
    out = term.getvalue()
    assert out.count("\r\x1b[2K") == 2 and out.count("\n") == 1 and bar(6, 6) in out
    log = io.StringIO()
    monkeypatch.setattr("sys.stdout", log)
    callback._print()
    assert log.getvalue().count("\n") == 1 and "\r" not in log.getvalue()


def test_done_and_running_come_from_one_table():
    df = pd.DataFrame({"trial_id": [0, 1, 2], "status": ["completed", "running", "stopped_early"],
                       "accuracy": [0.5, None, 0.2], "params": [10, 20, 30], "macs": [1, 2, 3]})
    line = progress_line(df, 3, 61.0, 0.0)
    assert line.startswith("[   1:01] 2/3 trials done (1 completed, 1 stopped early, 0 failed) | 1 running")
    assert "left" not in progress_line(df.assign(status="completed"), 3, 61.0, 12.0)
    assert "~0:12 left" in progress_line(df, 3, 61.0, 12.0)
