"""Which cases each clause runs on, and the items that result: markers, expectations, shards, order.

A check's cases come from its `@clause` declaration (`conformance.catalogue`): the zoo models that
offer what it `requires`, sampled per backend from the tasks that backend's spec declares:

    arch            every (architecture, task) model; a task the spec lacks is unsupported there
    task            one model per (family, task) the spec declares
    family          one per task family the spec has tasks in
    representative  one per backend

Within a family the pick is its representative case if the spec declares that task, else its
representative architecture on the first declared task, else the first declared model. A backend
none of whose tasks offers the requirements gets one stand-in case that records not_run.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from conformance import catalogue, hardware
from conformance.engine.options import backend_marker
from conformance.engine.state import CONTEXT, EXPECTATION, PROPS, STATE, State

if TYPE_CHECKING:
    from conformance.cases import Case, CheckContext
    from conformance.spec import BackendSpec
    from conformance.zoo import ZooModel


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "case" not in metafunc.fixturenames:
        return
    state = metafunc.config.stash.get(STATE, None)
    if state is None:
        raise pytest.UsageError(
            "conformance checks need --backend NAME (see `optimum-conformance run --help`)"
        )
    declared = catalogue.clause_of(metafunc.function)
    cases = cases_of(declared, state)
    metafunc.parametrize(
        "case", [pytest.param(c, id=c.id, marks=pytest.mark.xdist_group(c.id)) for c in cases]
    )
    match_expectations_other_selections_collect(metafunc.function.__name__, declared, state)


def match_expectations_other_selections_collect(name: str, declared: catalogue.Clause, state: State) -> None:
    """Count as matched (not stale) the expectations naming a check this run left out but another
    selection of the same backends collects: a sampled clause runs on one model of several (a full
    run's input.hub_faults on bert, a --task text-generation run's on llama), and --arch/--task
    narrow the zoo the way -k narrows the checks. Stale stays what no selection reaches: a renamed
    check, a typo, a model or backend the zoo does not have."""
    from conformance.cases import Case

    unmatched = [i for i in range(len(state.expectations)) if i not in state.matched]
    if not unmatched:
        return
    models, tiers = eligible_models(declared, None, None), tiers_of(declared, state)
    names = [
        f"{name}[{Case(spec, model, tier, None).id}]"
        for spec in state.specs
        for model in models
        for tier in tiers
    ]
    for index in unmatched:
        if any(state.expectations[index].matches(test) for test in names):
            state.matched.add(index)


def cases_of(declared: catalogue.Clause, state: State) -> list[Case]:
    """The cases of one clause for every selected backend (and precision tier, for tier clauses)."""
    from conformance.cases import Case

    archs, tasks = state.filters
    tiers = tiers_of(declared, state)
    cases = []
    for spec in state.specs:
        for model, reason in models_of(declared, spec, archs, tasks):
            cases += [Case(spec, model, tier, reason) for tier in tiers]
    return cases


def tiers_of(declared: catalogue.Clause, state: State) -> list[str]:
    """For a per-tier clause, every tier beyond fp32 that the suite knows (`hardware.NATIVE_FLAGS`)
    plus any other a selected backend declares (its not_run says the suite does not know it), for
    every backend: one that does not declare a tier is unsupported there. The known tiers do not
    depend on which backends run together, so a result's id, and the repro command it records,
    collect alike in a run of that backend alone. fp32 alone for a clause that is not per tier."""
    if not declared.tiers:
        return ["fp32"]
    known = set(hardware.NATIVE_FLAGS) - {"fp32"}
    return sorted(known | {tier for spec in state.specs for tier in spec.precisions})


def eligible_models(
    declared: catalogue.Clause, archs: list[str] | None, tasks: list[str] | None
) -> list[ZooModel]:
    """The zoo models within the --arch/--task filters (None: no filter) that offer what the clause
    requires."""
    from conformance import zoo

    return [m for m in zoo.models(archs, tasks) if declared.requires <= m.capabilities]


def models_of(
    declared: catalogue.Clause, spec: BackendSpec, archs: list[str] | None, tasks: list[str] | None
) -> list[tuple[ZooModel, str | None]]:
    """(model, not-applicable reason) pairs one backend runs the clause on, within the --arch and
    --task filters (None: no filter)."""
    return sample(declared, spec, eligible_models(declared, archs, tasks))


def sample(
    declared: catalogue.Clause, spec: BackendSpec, eligible: list[ZooModel]
) -> list[tuple[ZooModel, str | None]]:
    """(model, not-applicable reason) pairs one backend runs the clause on."""
    if declared.sample == "arch":
        return [(model, None) for model in eligible]
    mine = [m for m in eligible if m.task in spec.classes]
    if not mine:
        if not eligible:
            return []  # the --arch/--task filters leave nothing: no case, as for any empty selection
        needs = ", ".join(sorted(declared.requires)) or "a model"
        reason = f"{spec.name} declares no task whose zoo models offer {needs} ({declared.id} needs it)"
        return [(_pick(eligible), reason)]
    if declared.sample == "representative":
        groups = [mine]
    elif declared.sample == "family":
        groups = _grouped(mine, lambda m: m.family.name)
    else:
        groups = _grouped(mine, lambda m: (m.family.name, m.task))
    return [(_pick(group), None) for group in groups]


def _grouped(models: list[ZooModel], key: Any) -> list[list[ZooModel]]:
    groups: dict[Any, list[ZooModel]] = {}
    for model in models:
        groups.setdefault(key(model), []).append(model)
    return list(groups.values())


def _pick(models: list[ZooModel]) -> ZooModel:
    """The representative of `models` (in zoo order): the first family's representative case, else
    its representative architecture, else the first model."""
    family = models[0].family
    arch, task = family.representative
    own = [m for m in models if m.family is family]
    return next(
        (m for m in own if (m.arch, m.task) == (arch, task)),
        next((m for m in own if m.arch == arch), own[0]),
    )


@pytest.fixture
def check(request: pytest.FixtureRequest, case: Case, tmp_path: Path) -> CheckContext:
    """The `CheckContext` of this check on this case."""
    from conformance.cases import CheckContext

    state = request.config.stash[STATE]
    context = CheckContext(case, catalogue.clause_of(request.function).id, state.cache, tmp_path)
    request.node.stash[CONTEXT] = context
    return context


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    from conformance.engine.recorder import case_props

    timeout = config.getoption("check_timeout")
    has_timeout = config.pluginmanager.hasplugin("timeout")
    kept = []
    for item in items:
        case = case_of(item)
        if case is None:
            kept.append(item)
            continue
        declared = catalogue.clause_of(item.function)  # type: ignore[attr-defined]
        item.add_marker(declared.family)
        item.add_marker(declared.level)
        item.add_marker(backend_marker(case.spec.name))
        if has_timeout and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(timeout))
        expectation = None
        for index, candidate in enumerate(state.expectations):
            if candidate.matches(item.name):
                state.matched.add(index)
                item.add_marker(
                    pytest.mark.xfail(reason=f"{candidate.reason} ({candidate.link})", strict=True)
                )
                item.stash[EXPECTATION] = expectation = candidate
                break
        item.stash[PROPS] = case_props(state, item, declared, case, expectation)
        if in_shard(item.nodeid, state.shard):
            kept.append(item)
    if hasattr(config, "workeroutput"):  # a pytest-xdist worker: the controller collects nothing
        config.workeroutput["conformance_matched"] = sorted(state.matched)
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
    items[:] = kept


def case_of(item: pytest.Item) -> Case | None:
    """The Case a check item runs on, or None (not a check, or an empty parameter set)."""
    from conformance.cases import Case

    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def in_shard(node_id: str, shard: tuple[int, int]) -> bool:
    """By the id relative to the suite package: shards run from different folders (a checkout, an
    installed wheel, another working directory) still split the same tests the same way."""
    from reports.schema import suite_test_id

    return zlib.crc32(suite_test_id(node_id).encode()) % shard[1] == shard[0]
