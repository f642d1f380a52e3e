"""The documentation pages stay in sync with the code they describe.

docs/configuration.md must list every config key with the default written in the code, and docs/algorithms/ppo.md
must list every scalar the runner logs. Defaults are read from the source with ``ast`` (the text of the default
expression, e.g. ``1e-3`` or ``[256, 256, 256]``), so the check is on the literal a reader sees in both places.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
import re
import textwrap
from pathlib import Path

import pytest

import stride.config.schema as schema
from stride.config.io import ExperimentCfg
from stride.config.off_policy import QModelCfg, SACCfg, TD3Cfg
from stride.env.tasks import make_task
from stride.modules.distributions import BetaDistribution, GaussianDistribution, HeteroscedasticGaussianDistribution
from stride.runners import OffPolicyRunner, OnPolicyRunner

DOCS = Path(__file__).resolve().parents[2] / "docs"
CONFIGURATION = DOCS / "configuration.md"
PPO_PAGE = DOCS / "algorithms" / "ppo.md"
DISTILLATION_PAGE = DOCS / "algorithms" / "distillation.md"

NO_DEFAULT = "—"
"""What the default column shows for a required constructor argument."""

CONFIG_CLASSES = (
    *(
        obj
        for obj in vars(schema).values()
        if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == schema.__name__
    ),
    ExperimentCfg,
    SACCfg,
    TD3Cfg,
    QModelCfg,
)
"""Every config dataclass of stride/config/schema.py (new ones are checked without editing this test), the experiment
file's and the off-policy ones (stride/config/off_policy.py; their shared base is documented through SAC's and
TD3's tables)."""
DISTRIBUTIONS = (GaussianDistribution, HeteroscedasticGaussianDistribution, BetaDistribution)
NAMESPACES = ("Train/", "Loss/", "Policy/", "Perf/", "Episode/")


# ------------------------------------------------------------------------------------------------ markdown tables
def _split_row(line: str) -> list[str]:
    """Cells of one markdown table row; ``\\|`` inside a cell is a literal pipe, not a separator."""
    cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
    return [cell.strip().replace("\\|", "|") for cell in cells]


def _section(text: str, name: str) -> str:
    """The text under the first heading naming ``name`` as a whole word, up to the next heading of that level."""
    lines = text.splitlines()
    pattern = re.compile(rf"^(#+)\s.*(?<![\w]){re.escape(name)}(?![\w])")
    for start, line in enumerate(lines):
        match = pattern.match(line)
        if match is None:
            continue
        level = len(match.group(1))
        body: list[str] = []
        for following in lines[start + 1 :]:
            heading = re.match(r"^(#+)\s", following)
            if heading is not None and len(heading.group(1)) <= level:
                break
            body.append(following)
        return "\n".join(body)
    raise AssertionError(f"no heading naming {name!r} in the page")


def _first_table(section: str) -> dict[str, list[str]]:
    """Rows of the first table in ``section``: first-cell key (backticks removed) → the remaining cells."""
    rows: dict[str, list[str]] = {}
    in_table = False
    for line in section.splitlines():
        if not line.startswith("|"):
            if in_table:
                break
            continue
        cells = _split_row(line)
        if not in_table:
            in_table = True  # header row
            continue
        if all(set(cell) <= set("-: ") for cell in cells):
            continue  # separator row
        key = cells[0].strip("`")
        assert key not in rows, f"row {key!r} appears twice in one table"
        rows[key] = cells[1:]
    assert rows, "the section has no table rows"
    return rows


def _normalize(code: str) -> str:
    """Compare literals independently of spacing and quote style."""
    return re.sub(r"\s+", "", code.strip().strip("`")).replace("'", '"')


# ------------------------------------------------------------------------------------------------ code defaults
def _class_node(cls: type) -> tuple[ast.ClassDef, str]:
    source = inspect.getsource(inspect.getmodule(cls))  # type: ignore[arg-type]
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__:
            return node, source
    raise AssertionError(f"class {cls.__name__} not found in its module source")


def _dataclass_defaults(cls: type) -> dict[str, str]:
    """Field name → source text of its default (``field(default_factory=...)`` resolved to the value it builds).

    Fields inherited from a dataclass base take the base's default unless the class overrides them.
    """
    node, source = _class_node(cls)
    defaults: dict[str, str] = {}
    for base in reversed(cls.__mro__[1:]):
        if dataclasses.is_dataclass(base):
            defaults.update(_dataclass_defaults(base))
    for statement in node.body:
        if not isinstance(statement, ast.AnnAssign) or not isinstance(statement.target, ast.Name):
            continue
        value = statement.value
        assert value is not None, f"{cls.__name__}.{statement.target.id} has no default"
        if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "field":
            keywords = {k.arg: k.value for k in value.keywords}
            if "default" in keywords:
                value = keywords["default"]
            else:
                factory = keywords["default_factory"]
                if isinstance(factory, ast.Lambda):
                    value = factory.body
                else:
                    assert isinstance(factory, ast.Name) and factory.id in ("dict", "list"), ast.dump(factory)
                    defaults[statement.target.id] = "{}" if factory.id == "dict" else "[]"
                    continue
        segment = ast.get_source_segment(source, value)
        assert segment is not None
        defaults[statement.target.id] = segment
    # the source walk must have found exactly the dataclass's fields
    assert set(defaults) == {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return defaults


def _constructor_defaults(cls: type) -> dict[str, str | None]:
    """Constructor argument → source text of its default (None when it has none), ``self`` excluded."""
    node, source = _class_node(cls)
    init = next(n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    args = init.args.args[1:]
    defaults: list[ast.expr | None] = [None] * (len(args) - len(init.args.defaults)) + list(init.args.defaults)
    result: dict[str, str | None] = {}
    for arg, default in zip(args, defaults, strict=True):
        result[arg.arg] = None if default is None else ast.get_source_segment(source, default)
    assert list(result) == list(inspect.signature(cls.__init__).parameters)[1:]
    return result


# ------------------------------------------------------------------------------------------------------- tests
@pytest.fixture(scope="module")
def page() -> str:
    return CONFIGURATION.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def logged_keys(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every key of metrics.jsonl after two iterations of a tiny cartpole run whose episodes end in both."""
    log_dir = tmp_path_factory.mktemp("run")
    env = make_task("cartpole", num_envs=8, seed=3, max_episode_length=5)
    train_cfg = {
        "num_steps_per_env": 8,
        "seed": 3,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 2},
        "actor": {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution"}},
        "critic": {"hidden_dims": [8]},
    }
    runner = OnPolicyRunner(env, train_cfg, log_dir=str(log_dir))
    runner.learn(2)
    lines = (log_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    keys: set[str] = set()
    for line in lines:
        keys |= set(json.loads(line))
    return keys


class TestConfigurationPage:
    """docs/configuration.md has one row per config key, showing the default exactly as the code writes it."""

    @pytest.mark.parametrize("cls", CONFIG_CLASSES, ids=lambda c: c.__name__)
    def test_every_dataclass_field_has_its_default(self, page: str, cls: type) -> None:
        expected = _dataclass_defaults(cls)
        rows = _first_table(_section(page, cls.__name__))
        assert set(rows) == set(expected), (
            f"{cls.__name__}: missing rows {sorted(set(expected) - set(rows))}, "
            f"stale rows {sorted(set(rows) - set(expected))}"
        )
        for key, default in expected.items():
            _type, doc_default, meaning = rows[key]
            assert _normalize(doc_default) == _normalize(default), f"{cls.__name__}.{key}: docs {doc_default}"
            assert meaning, f"{cls.__name__}.{key} has no meaning"

    @pytest.mark.parametrize("cls", DISTRIBUTIONS, ids=lambda c: c.__name__)
    def test_every_distribution_argument_has_its_default(self, page: str, cls: type) -> None:
        expected = _constructor_defaults(cls)
        rows = _first_table(_section(page, cls.__name__))
        assert set(rows) == set(expected) | {"class_name"}, (
            f"{cls.__name__}: missing rows {sorted(set(expected) - set(rows))}, "
            f"stale rows {sorted(set(rows) - set(expected) - {'class_name'})}"
        )
        assert rows["class_name"][1] == NO_DEFAULT
        for key, default in expected.items():
            _type, doc_default, meaning = rows[key]
            if default is None:
                assert doc_default == NO_DEFAULT, f"{cls.__name__}.{key} is required; docs show {doc_default}"
            else:
                assert _normalize(doc_default) == _normalize(default), f"{cls.__name__}.{key}: docs {doc_default}"
            assert meaning, f"{cls.__name__}.{key} has no meaning"

    def test_table_parser_sees_escaped_pipes_and_defaults(self) -> None:
        # guards the helpers above against passing vacuously on a page they cannot read
        text = textwrap.dedent(
            """
            ## Thing — `ThingCfg`

            | key | type | default | meaning |
            |---|---|---|---|
            | `a` | `int \\| None` | `None` | first |
            | `b` | `list[int]` | `[1, 2]` | second |

            ## Other
            | key | type | default | meaning |
            |---|---|---|---|
            | `c` | `str` | `'x'` | third |
            """
        )
        rows = _first_table(_section(text, "ThingCfg"))
        assert rows == {"a": ["`int | None`", "`None`", "first"], "b": ["`list[int]`", "`[1, 2]`", "second"]}
        assert _normalize("`[1,2]`") == _normalize("[1, 2]")
        assert _normalize("`'x'`") == _normalize('"x"')
        assert _normalize("`1e-3`") != _normalize("1e-4")


class TestPPOMetricsPage:
    """docs/algorithms/ppo.md lists every scalar a training run writes to metrics.jsonl, and no other."""

    def test_every_logged_key_is_documented(self, logged_keys: set[str]) -> None:
        for namespace in NAMESPACES:
            assert any(k.startswith(namespace) for k in logged_keys), f"the run logged no {namespace}* key"
        rows = _first_table(_section(PPO_PAGE.read_text(encoding="utf-8"), "Logged metrics"))
        undocumented = sorted(logged_keys - set(rows))
        assert not undocumented, f"logged but not in docs/algorithms/ppo.md: {undocumented}"
        for key in logged_keys:
            assert rows[key] and rows[key][0], f"{key} has no meaning in the table"

    def test_every_documented_key_is_logged(self, logged_keys: set[str]) -> None:
        rows = _first_table(_section(PPO_PAGE.read_text(encoding="utf-8"), "Logged metrics"))
        stale = sorted(set(rows) - logged_keys)
        assert not stale, f"documented in docs/algorithms/ppo.md but not logged: {stale}"


@pytest.fixture(scope="module")
def distillation_logged_keys(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every key of metrics.jsonl after two iterations of a tiny pendulum-noisy distillation whose episodes end."""
    from stride.runners import DistillationRunner

    folder = tmp_path_factory.mktemp("distill")
    actor = {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution"}}
    ppo_cfg = {
        "num_steps_per_env": 4,
        "obs_groups": {"actor": ["teacher"], "critic": ["teacher"]},
        "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 1},
        "actor": actor,
        "critic": {"hidden_dims": [8]},
    }
    teacher = OnPolicyRunner(make_task("pendulum-noisy", num_envs=4, seed=3), ppo_cfg)
    teacher.save(str(folder / "teacher.pt"))
    distill_cfg = {
        "class_name": "DistillationRunner",
        "num_steps_per_env": 8,
        "seed": 3,
        "obs_groups": {"student": ["policy"], "teacher": ["teacher"]},
        "algorithm": {"class_name": "Distillation"},
        "student": {"class_name": "RNNModel", "rnn_type": "gru", "rnn_hidden_dim": 8, "hidden_dims": [8]},
        "teacher": actor,
    }
    env = make_task("pendulum-noisy", num_envs=4, seed=3, max_episode_length=5)
    runner = DistillationRunner(env, distill_cfg, log_dir=str(folder / "run"))
    runner.load(str(folder / "teacher.pt"))
    runner.learn(2)
    keys: set[str] = set()
    for line in (folder / "run" / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        keys |= set(json.loads(line))
    return keys


class TestDistillationMetricsPage:
    """docs/algorithms/distillation.md lists every scalar a distillation run writes to metrics.jsonl, and no other."""

    def test_every_logged_key_is_documented(self, distillation_logged_keys: set[str]) -> None:
        for namespace in NAMESPACES:
            assert any(k.startswith(namespace) for k in distillation_logged_keys), f"no {namespace}* key logged"
        rows = _first_table(_section(DISTILLATION_PAGE.read_text(encoding="utf-8"), "Logged metrics"))
        undocumented = sorted(distillation_logged_keys - set(rows))
        assert not undocumented, f"logged but not in docs/algorithms/distillation.md: {undocumented}"
        assert all(rows[key] and rows[key][0] for key in distillation_logged_keys)

    def test_every_documented_key_is_logged(self, distillation_logged_keys: set[str]) -> None:
        rows = _first_table(_section(DISTILLATION_PAGE.read_text(encoding="utf-8"), "Logged metrics"))
        stale = sorted(set(rows) - distillation_logged_keys)
        assert not stale, f"documented in docs/algorithms/distillation.md but not logged: {stale}"


@pytest.fixture(scope="module", params=["SAC", "TD3"])
def off_policy_logged_keys(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, set]:
    """Every key of metrics.jsonl after two iterations of a tiny SAC / TD3 pendulum run whose episodes end (with
    symmetry, whose statistic is logged too)."""
    algo = request.param
    log_dir = tmp_path_factory.mktemp(algo)
    symmetry = {"use_mirror_loss": True, "mirror_loss_coeff": 0.1, "data_augmentation_func": "pendulum"}
    train_cfg = {
        "class_name": "OffPolicyRunner",
        "num_steps_per_env": 4,
        "seed": 3,
        "obs_groups": {"actor": ["policy"], "critic": ["policy"]},
        "algorithm": {"class_name": algo, "batch_size": 8, "learning_starts": 2, "symmetry_cfg": symmetry},
        "actor": {"hidden_dims": [8]},
        "critic": {"hidden_dims": [8]},
    }
    runner = OffPolicyRunner(make_task("pendulum", num_envs=4, seed=3, max_episode_length=5), train_cfg, str(log_dir))
    runner.learn(2)
    keys: set[str] = set()
    for line in (log_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        keys |= set(json.loads(line))
    return algo, keys


class TestOffPolicyMetricsPages:
    """docs/algorithms/sac.md and td3.md list every scalar their runs write to metrics.jsonl, and no other."""

    def test_logged_equals_documented(self, off_policy_logged_keys: tuple[str, set]) -> None:
        algo, keys = off_policy_logged_keys
        for namespace in NAMESPACES:
            assert any(k.startswith(namespace) for k in keys), f"the {algo} run logged no {namespace}* key"
        page = DOCS / "algorithms" / f"{algo.lower()}.md"
        rows = _first_table(_section(page.read_text(encoding="utf-8"), "Logged metrics"))
        assert sorted(keys - set(rows)) == [], f"logged but not in {page.name}"
        assert sorted(set(rows) - keys) == [], f"documented in {page.name} but not logged"
        assert all(rows[key] and rows[key][0] for key in keys)
