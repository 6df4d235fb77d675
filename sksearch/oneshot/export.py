"""A subnet's inherited weights, as an evaluation used them: cut from the trained supernet, its
BatchNorm recalibrated on the same training batches. They seed ``init: inherited`` trials, and
``sksearch export --subnet ID`` writes them as an ordinary export folder for a subnet that no
stand-alone trial trained, asked for by name only, its README saying what the weights are.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from ..data.load import load_data, make_batches
from ..errors import UserError
from ..exports.targets import check_export_target, clear_export
from ..model.spec import ArchSpec, SpecError
from ..space.distributions import SpaceError
from ..space.parsed import SearchSpace
from ..space.sample import draw_fixed
from ..study.folder import StudyFolder
from ..study.layout import Layout, latest_weights
from ..study.pareto import front_rows
from ..study.store import one_shot_study
from ..study.subnets import supernet_epochs
from ..study.table import REPEAT
from .bn import calibration_batches, recalibrate
from .sandwich import arch_space, recipe
from .search import load_supernet
from .supernet import Supernet
from .trainable import supernet_dir


def subnet_spec(space: SearchSpace, values: dict[str, Any], where: str = "one_shot") -> ArchSpec:
    """The architecture of a subnet from its searched values (a one-shot trial's params)."""
    s, _ = draw_fixed(arch_space(space), values, where, fill=True)
    return ArchSpec.from_dict(s.arch)


def _recorded_subnet(space: SearchSpace, values: dict[str, Any], where: str, root: str) -> ArchSpec:
    """``subnet_spec`` of a recorded subnet; ``UserError`` when the folder's space no longer
    holds it (space.yaml edited after the search)."""
    try:
        return subnet_spec(space, values, where)
    except (SpaceError, SpecError) as exc:
        raise UserError(f"{where}: its searched values no longer fit {Layout(root).space_yaml} ({exc}); the space "
                        f"file was changed after the search: restore the space it ran") from None


def calibration_for(space: SearchSpace, data: Any, device: str = "cpu") -> list[torch.Tensor]:
    """The training batches a subnet's BatchNorm is recalibrated on: the ones the subnet
    search drew (same recipe, same seed), so an export holds the weights that were scored."""
    train = recipe(arch_space(space), space.strategy.supernet_epochs)
    batches = make_batches(data, device, train.batch_size, seed=train.seed, channels_last=train.uses_channels_last,
                           workers=0)
    return calibration_batches(batches, space.strategy.calibration_batches)


def inherited_state(supernet: Supernet, spec: ArchSpec, calibration: list[torch.Tensor]) -> dict[str, torch.Tensor]:
    """The state dict of ``build(spec)`` with the subnet's inherited weights and recalibrated
    BatchNorm statistics, on the CPU."""
    model = supernet.subnet(spec)
    recalibrate(model, calibration)
    return {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}


def supernet_weights(folder: StudyFolder) -> str:
    weights = latest_weights(os.path.join(supernet_dir(folder.root), "supernet"))
    if weights is None:
        raise UserError(f"{folder.root}: the supernet has no trained weights (no checkpoint under "
                        f"{supernet_dir(folder.root)}); finish its training with `sksearch resume {folder.root}`")
    return weights


def export_subnet(folder: StudyFolder, subnet_id: int, out: str, onnx: bool = False, force: bool = False) -> str:
    """Export subnet ``subnet_id`` of the study's one-shot search with its inherited weights;
    returns the folder."""
    from ..exports.write import write_export

    subnets = folder.subnet_table
    asked = f"--subnet {subnet_id}"
    strategy = folder.space.strategy
    if strategy.name != "one_shot" and subnets is None:
        raise UserError(f"{asked}: {folder.root} ran no one-shot search (its space's strategy is "
                        f"{strategy.name}); export its trials with --trial ID")
    if subnets is None or subnets.empty:
        epochs = supernet_epochs(folder.root)
        where = (f"its supernet has trained {epochs} of {strategy.supernet_epochs} epochs"
                 if epochs < strategy.supernet_epochs else "its subnet search has not evaluated a subnet yet")
        raise UserError(f"{asked}: {folder.root} is a one-shot study with no subnet yet ({where}); continue it with "
                        f"`sksearch resume {folder.root}`")
    rows = subnets[subnets["trial_id"] == subnet_id]
    if rows.empty:
        raise UserError(f"{asked}: no such subnet in {one_shot_study(folder.name)} (subnets 0 to "
                        f"{int(subnets['trial_id'].max())}; `sksearch pareto {folder.root}` lists their front)")
    row = rows.iloc[0]
    # A repeat draw holds its network's first evaluation: the same network, the same weights.
    if row["status"] not in ("completed", REPEAT):
        raise UserError(f"{asked}: it was {row['status']} ({row['reason'] or 'not evaluated'}), so it has no "
                        f"estimate; export an evaluated subnet")
    space = folder.space
    spec = _recorded_subnet(space, front_rows(rows)[0]["config"], f"{one_shot_study(folder.name)} trial {subnet_id}",
                            folder.root)
    source = {"study": one_shot_study(folder.name), "subnet_id": subnet_id, "inherited": True,
              "folder": os.path.abspath(folder.root)}
    replace = check_export_target(out, force=force, source=source)
    data = load_data(space.data, test=False)
    supernet = load_supernet(space, space.data.shape(data), supernet_weights(folder))
    state = inherited_state(supernet, spec, calibration_for(space, data))
    origin = (f"Subnet {subnet_id} of the one-shot search of the sksearch study in `{os.path.abspath(folder.root)}` "
              f"(study `{one_shot_study(folder.name)}`). **It was never trained stand-alone**: its weights are "
              f"inherited from the supernet ({strategy.supernet_epochs} epochs of the sandwich rule), BatchNorm "
              f"recalibrated on {strategy.calibration_batches} training batches, and its accuracy is the supernet's "
              f"estimate, which `sksearch pareto` rates against stand-alone training (Kendall's tau). Train it "
              f"(`sksearch train`, below) before you rely on it.")
    metrics = {"status": "never trained stand-alone (inherited weights)",
               "val accuracy (supernet estimate)": round(float(row["accuracy"]), 4),
               "test accuracy": "not measured (`sksearch evaluate FOLDER --split test`)",
               "params": f"{int(row['params']):,}", "macs": f"{int(row['macs']):,}"}
    train = recipe(arch_space(space), strategy.supernet_epochs)
    record = {"train": train.to_dict(), "data": (folder.data_info() or {}).get("data_spec")
              or space.data.to_dict(), "epochs": strategy.supernet_epochs, "cpus": space.resources.cpu,
              "source": source}
    if replace:
        clear_export(out)
    return write_export(out, spec, state, f"sksearch subnet {subnet_id} (inherited weights)", origin, metrics,
                        folder.data_info(), onnx, record)
