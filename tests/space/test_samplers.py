"""The one table of samplers (``space.samplers.SAMPLERS``): the schema's names, the space
reference's words and ``make_sampler``'s sampler all come from its rows, and a row added is
built with no other change. (The samplers' behaviour in a search: tests/search/test_samplers.py.)"""

import dataclasses

import optuna
import pytest
import yaml

from sksearch import docs_reference
from sksearch.space import SamplerSpec, SpaceError, parse, schema
from sksearch.space.samplers import SAMPLERS, Sampler, make_sampler, reading
from tests.conftest import TINY_SPACE


def space(**sampler):
    raw = yaml.safe_load(TINY_SPACE)
    raw["sampler"] = sampler
    return parse(raw, "tiny.yaml")


def test_the_schema_takes_the_tables_names_and_lists_them_when_refusing():
    assert schema.SAMPLERS is SAMPLERS and list(SAMPLERS) == ["tpe", "gp", "nsga2", "nsga3", "random"]
    assert [space(name=name).sampler.name for name in SAMPLERS] == list(SAMPLERS)
    with pytest.raises(SpaceError, match="sampler.name: must be one of tpe, gp, nsga2, nsga3, random; got 'cmaes'"):
        space(name="cmaes")
    assert SamplerSpec().name == next(iter(SAMPLERS))  # a space file's default is the table's first


@pytest.mark.parametrize("name", list(SAMPLERS))
def test_each_row_reads_settings_the_section_has_and_builds_a_seeded_sampler(name):
    row = SAMPLERS[name]
    fields = {f.name for f in dataclasses.fields(SamplerSpec)}
    assert row.name == name and row.about and set(row.reads) <= fields - {"name", "seed"}
    assert set(row.reads) <= set(schema.SAMPLER_RULES)
    sampler = make_sampler(space(name=name, seed=3, population_size=4, n_startup_trials=2))
    assert isinstance(sampler, optuna.samplers.BaseSampler) and type(sampler) is type(row.build(SamplerSpec(), 0))


def test_the_space_reference_describes_each_sampler_from_its_row():
    assert all(f"{name}: {s.about}" in docs_reference.DESCRIPTIONS["sampler.name"] for name, s in SAMPLERS.items())
    assert reading("population_size") == ["nsga2", "nsga3"] and reading("n_startup_trials") == ["tpe", "gp"]
    assert docs_reference.DESCRIPTIONS["sampler.population_size"].startswith("nsga2 and nsga3: ")


def test_a_sampler_added_to_the_table_is_built_with_the_seed_make_sampler_gives(monkeypatch):
    """The guide's promise (docs/architecture.md, "How to add a sampler"): the builder of a
    new row is what ``make_sampler`` returns, seeded with the space's seed plus the offset."""
    seeds = []

    def qmc(spec: SamplerSpec, seed: int | None) -> optuna.samplers.BaseSampler:
        seeds.append(seed)
        return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)

    monkeypatch.setitem(SAMPLERS, "qmc", Sampler("qmc", "quasi-Monte Carlo", (), qmc))
    tiny = space(seed=10)
    assert isinstance(make_sampler(tiny, offset=5, name="qmc"), optuna.samplers.QMCSampler)
    assert isinstance(make_sampler(dataclasses.replace(tiny, sampler=SamplerSpec(name="qmc", seed=None))),
                      optuna.samplers.QMCSampler)
    assert seeds == [15, None]


@pytest.mark.parametrize("name", ["tpe", "nsga2", "gp"])
def test_a_rebuilt_sampler_given_its_predecessor_draws_what_a_fresh_one_draws_and_keeps_the_cache(name):
    """The one-shot search rebuilds its sampler before each draw; handed the one it replaces,
    the new one keeps Optuna's search-space cache instead of recomputing it over every trial,
    and draws exactly what a sampler built from nothing draws."""
    from optuna.search_space import IntersectionSearchSpace

    tiny = space(name=name, seed=3, population_size=4, n_startup_trials=3)

    def draws(carry: bool) -> tuple[list[dict], list[object]]:
        study = optuna.create_study(directions=["maximize", "minimize"])
        caches = []
        for i in range(10):
            study.sampler = make_sampler(tiny, offset=i, previous=study.sampler if carry else None)
            caches += [v for v in vars(study.sampler).values() if isinstance(v, IntersectionSearchSpace)]
            t = study.ask()
            x, k = t.suggest_float("x", 0.0, 1.0), t.suggest_categorical("k", [1, 2, 3])
            study.tell(t, [x * k, (1 - x) + k])
        return [t.params for t in study.trials], caches

    plain, fresh_caches = draws(False)
    carried, kept_caches = draws(True)
    assert carried == plain
    assert len({id(c) for c in fresh_caches}) == 10
    # the first rebuild may replace the study's default sampler's cache by its own; from then on one
    assert len({id(c) for c in kept_caches[1:]}) == 1
