"""``export --subnet`` of a subnet that the folder's space no longer holds (issue 35): the
space file was edited after the search, so the recorded values do not fit it. One line naming
the space file, never the space parser's SpaceError as a traceback."""

from __future__ import annotations

import pytest

from sksearch.errors import UserError
from sksearch.oneshot.export import _recorded_subnet
from sksearch.space import load_space
from tests.conftest import TINY_SPACE, write_space

ONE_SHOT = "strategy: {name: one_shot, supernet_epochs: 1, subnets: 4, confirm: 1, spread: 1}"


@pytest.fixture
def space(tmp_path):
    return load_space(str(write_space(tmp_path, TINY_SPACE + ONE_SHOT + "\n")))


def test_a_recorded_subnet_that_fits_gives_its_spec(space, tmp_path):
    spec = _recorded_subnet(space, {"sk.M": 2, "sk.branches.1.dilation": 3, "stages.0.width_per_group": 4},
                            "tiny:one_shot trial 0", str(tmp_path))
    assert spec.sk.M == 2 and spec.sk.branches[1][1] == 3 and spec.stages[0].width == 8


@pytest.mark.parametrize("values", [{"sk.M": 2, "sk.branches.1.dilation": 7, "stages.0.width_per_group": 4},
                                    {"sk.M": 2, "sk.branches.1.dilation": 3, "stages.0.width_per_group": 4,
                                     "stages.1.depth": 2}])
def test_a_subnet_the_edited_space_no_longer_holds_is_one_line(space, tmp_path, values):
    with pytest.raises(UserError, match=r"tiny:one_shot trial 3: its searched values no longer fit .*space\.yaml"):
        _recorded_subnet(space, values, "tiny:one_shot trial 3", str(tmp_path))
