"""The trials table carries each trial's ``peak_rss`` (the process's resident peak, bytes) as
the searcher records it, read alike through Optuna and through the SQL reader."""

import optuna
from optuna.distributions import FloatDistribution

from sksearch.study.reader import read_table
from sksearch.study.store import StudyRef
from sksearch.study.table import METRICS, records_from_study, trials_table


def test_peak_rss_is_a_column_of_the_trials_table(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="s", storage=url, directions=["maximize"])
    study.set_metric_names(["accuracy"])
    for i, rss in enumerate((512 * 2**20, None)):
        trial = optuna.trial.create_trial(params={"lr": 0.1 + i}, distributions={"lr": FloatDistribution(0.01, 2)},
                                          values=[0.5], user_attrs={"epochs": 1, **({"peak_rss": rss} if rss else {})})
        study.add_trial(trial)
    assert "peak_rss" in METRICS  # what the searcher copies from a trial's last report
    table = trials_table(records_from_study(study), study.metric_names)
    assert table.peak_rss.iloc[0] == 512 * 2**20 and table.peak_rss.isna().iloc[1]
    read = read_table(StudyRef(url, "s", str(tmp_path)))
    assert read.peak_rss.iloc[0] == 512 * 2**20 and read.peak_rss.isna().iloc[1]
