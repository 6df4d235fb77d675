"""The Python API: what a notebook user gets from sksearch.run / open / build_model / cost, and
that it says what the command line says."""

import json

import pandas as pd
import pytest
import torch
import yaml

import sksearch
from sksearch.model.cost import params_and_macs
from sksearch.model.presets import preset
from tests.conftest import TINY_SPACE, run_cli, tiny_spec


def test_open_gives_the_table_front_and_history_the_cli_gives(finished_study):
    study_dir, _ = finished_study
    study = sksearch.open(str(study_dir))
    assert isinstance(study, sksearch.Study) and study.name == "tiny" and study.objectives == ["accuracy", "params"]
    csv = pd.read_csv(study_dir / "trials.csv")
    assert study.table.trial_id.tolist() == csv.trial_id.tolist()
    assert study.table.status.tolist() == csv.status.tolist()
    assert study.table.accuracy.fillna(-1).tolist() == pytest.approx(csv.accuracy.fillna(-1).tolist())

    rows = json.loads(run_cli("pareto", str(study_dir), "--json").stdout)["front"]
    front = study.front()
    assert front.trial_id.tolist() == [r["trial_id"] for r in rows]
    assert front.accuracy.tolist() == [r["accuracy"] for r in rows]
    assert front.attrs["objectives"] == ["accuracy", "params"]
    by_macs = json.loads(run_cli("pareto", str(study_dir), "--objectives", "accuracy,macs", "--json").stdout)["front"]
    assert study.front("accuracy,macs").trial_id.tolist() == [r["trial_id"] for r in by_macs]
    assert study.front(["accuracy", "macs"]).trial_id.tolist() == [r["trial_id"] for r in by_macs]

    history = study.hypervolume_history()
    assert list(history.columns) == ["trial_id", "status", "trials_ended", "epochs_spent", "hypervolume"]
    assert len(history) == csv.status.isin(["completed", "stopped_early", "failed"]).sum()
    assert history.hypervolume.is_monotonic_increasing and history.hypervolume.iloc[-1] > 0

    status = study.status()
    assert json.loads(run_cli("status", str(study_dir), "--json").stdout)["counts"] == status["counts"]
    assert status["finished"] and status["done"] == 6
    assert len(study.optuna.trials) == len(csv)


def test_the_plots_are_the_reports_figures_with_the_front_in_them(finished_study):
    import plotly.graph_objects as go

    from sksearch.study.page import read_figures
    from sksearch.study.table import param_columns

    study = sksearch.open(str(finished_study[0]))
    fig = study.plot_front()
    assert isinstance(fig, go.Figure)
    line = next(t for t in fig.data if t.name == "Pareto front")
    assert [int(i) for i in line.ids] == study.front().trial_id.tolist()
    points = [t for t in fig.data if t.hoverinfo == "text"]
    # Every point carries its own hover text (the notebook has no page script to draw it).
    assert points and all(text.startswith("trial: ") for t in points for text in t.hovertext)
    shown = sorted(int(text.split("<br>")[0].split(": ")[1]) for t in points for text in t.hovertext)
    plotted = study.table[study.table.accuracy.notna()].trial_id.astype(int)
    assert shown == sorted(plotted)
    by_macs = study.plot_front("accuracy,macs")
    assert "multiply-adds" in by_macs.layout.xaxis.title.text
    assert [int(i) for i in next(t for t in by_macs.data if t.name == "Pareto front").ids] == \
        study.front("accuracy,macs").trial_id.tolist()
    three = study.plot_front(["accuracy", "params", "macs"])
    ringed = next(t for t in three.data if t.name.startswith("Pareto front over"))
    assert [int(i) for i in ringed.ids] == study.front(["accuracy", "params", "macs"]).trial_id.tolist()
    with pytest.raises(sksearch.UserError, match="accuracy against a cost"):
        study.plot_front(["params", "macs"])

    # The report draws the same builders: its figures hold the same traces.
    page = read_figures(study.report())
    assert [t["name"] for t in page["front_params"]["data"]] == [t.name for t in fig.data]
    assert page["hypervolume"]["data"][0]["y"] == pytest.approx(list(study.plot_hypervolume().data[0].y))
    assert study.plot_hypervolume().data[0].y[-1] == pytest.approx(study.hypervolume_history().hypervolume.iloc[-1])
    curves = study.plot_curves()
    assert "front trials" in [t.name for t in curves.data]
    params = study.plot_params()
    searched = [p for p in param_columns(study.table) if study.table[p].notna().any()]
    # Each panel's title: the parameter, and when only some trials sample it, which (M ≥ 2).
    titles = [a.text for a in params.layout.annotations if a.xref == "paper"]
    assert [t.split(" (")[0] for t in titles] == searched


def test_report_export_and_load_model(finished_study, tmp_path):
    study = sksearch.open(str(finished_study[0]))
    path = study.report(str(tmp_path / "r.html"))
    assert path == str(tmp_path / "r.html") and "Plotly.newPlot" in open(path).read()
    best = study.front().sort_values("accuracy").trial_id.iloc[-1]
    folder = study.export(int(best), str(tmp_path / "best"))
    exported = sksearch.load_model(folder)
    net = study.load_model(int(best))
    assert not net.training
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        torch.testing.assert_close(net(x), exported(x), rtol=0, atol=0)
    folders = study.export_front(str(tmp_path / "front"))
    assert sorted(int(f.rsplit("_", 1)[1]) for f in folders) == sorted(study.front().trial_id)


def test_bad_input_raises_the_messages_the_cli_prints(finished_study, tmp_path):
    study = sksearch.open(str(finished_study[0]))
    with pytest.raises(sksearch.UserError, match="'speed' is not an objective") as err:
        study.front("accuracy,speed")
    cli = run_cli("pareto", str(finished_study[0]), "--objectives", "accuracy,speed")
    assert cli.returncode == 2 and str(err.value) in cli.stderr
    with pytest.raises(sksearch.UserError, match="no such trial") as err:
        study.export(999, str(tmp_path / "x"))
    cli = run_cli("export", str(finished_study[0]), "--trial", "999", "--to", str(tmp_path / "x"))
    assert str(err.value) in cli.stderr
    with pytest.raises(sksearch.UserError, match="not a study folder") as err:
        sksearch.open(str(tmp_path))
    assert str(err.value) in run_cli("status", str(tmp_path)).stderr
    with pytest.raises(sksearch.UserError, match="neither a preset nor a spec file"):
        sksearch.cost("sknet51")
    raw = yaml.safe_load(TINY_SPACE)
    raw["model"]["block"] = "dense"
    with pytest.raises(sksearch.UserError, match="model.block: must be one of resnext, se, sk") as err:
        sksearch.run(raw, str(tmp_path / "never"))
    assert str(err.value).startswith("<space dict>: ") and not (tmp_path / "never").exists()


def test_build_model_and_cost():
    assert sksearch.cost("sknet50") == {"params": 27_479_784, "macs": 4_462_710_784}
    small = sksearch.cost("resnext29_16x32d", input_size=16)
    assert small["params"] == 25_136_970 and small["macs"] < sksearch.cost("resnext29_16x32d")["macs"] / 3.5
    spec = tiny_spec()
    assert sksearch.cost(spec) == dict(zip(("params", "macs"), params_and_macs(spec)))
    assert sksearch.cost(spec.to_dict()) == sksearch.cost(spec)
    net = sksearch.build_model("sknet29", num_classes=100)
    assert net.fc.out_features == 100
    assert sum(p.numel() for p in net.parameters()) == params_and_macs(preset("sknet29").replace(num_classes=100))[0]
    with pytest.raises(sksearch.UserError, match="colour: not an ArchSpec field"):
        sksearch.build_model("sknet29", colour="red")


def test_run_returns_the_study_with_overrides_applied(tmp_path):
    import ray

    raw = yaml.safe_load(TINY_SPACE)
    try:
        study = sksearch.run(raw, str(tmp_path / "api"), trials=2, max_epochs=1,
                             overrides={"train.lr": 0.05, "model.stages[0].width_per_group": 2})
    finally:
        ray.shutdown()
    assert isinstance(study, sksearch.Study) and study.path == str(tmp_path / "api")
    written = yaml.safe_load((tmp_path / "api" / "space.yaml").read_text())
    assert written["trials"] == 2 and written["train"]["lr"] == 0.05
    assert written["scheduler"]["max_epochs"] == 1 and written["scheduler"]["grace_period"] == 1
    assert written["model"]["stages"][0]["width_per_group"] == 2
    assert study.status()["finished"] and len(study.table) == 2
    assert (study.table.status == "completed").all() and (study.table.epochs == 1).all()
    assert "lr" not in study.table.columns  # fixed by the override: no longer searched


def test_interrupting_a_notebook_kernel_returns_the_resumable_study(finished_study, monkeypatch, tmp_path):
    from sksearch import api
    from sksearch.search import progress

    def interrupted():
        raise KeyboardInterrupt

    root = str(finished_study[0])
    with pytest.raises(KeyboardInterrupt):  # a script or the CLI: the exception, as before
        api._searching(root, True, interrupted)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    study = api._searching(root, False, interrupted)
    assert isinstance(study, sksearch.Study) and study.root == root and study.status()["done"] == 6
    with pytest.raises(KeyboardInterrupt):  # before the study existed there is nothing to return
        api._searching(str(tmp_path / "none"), True, interrupted)
