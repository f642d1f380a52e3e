"""Tests of stride.logging.writers.resolve: the runner's rsl_rl-style ``logger`` setting → writer factories."""

from __future__ import annotations

import copy
import importlib.machinery
import json
import logging
import subprocess
import sys
import textwrap
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stride.logging import RunLogger
from stride.logging.writers import JsonlWriter, open_writers, resolve_backends, upload_files
from stride.logging.writers import resolve as resolve_module
from stride.utils.errors import ConfigError


def _names(backends: list[tuple[str, Any]]) -> list[str]:
    return [name for name, _ in backends]


@pytest.fixture
def fake_packages(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """Stand-in ``wandb`` and ``neptune`` modules whose init functions record their keyword arguments."""
    inits: dict[str, list[dict[str, Any]]] = {"wandb": [], "neptune": []}

    class Run:
        def __setitem__(self, key: str, value: Any) -> None:
            pass

    for module_name, function in (("wandb", "init"), ("neptune", "init_run")):
        module = types.ModuleType(module_name)
        module.__spec__ = importlib.machinery.ModuleSpec(module_name, None)

        def init(_name: str = module_name, **kwargs: Any) -> Run:
            inits[_name].append(kwargs)
            return Run()

        setattr(module, function, init)
        monkeypatch.setitem(sys.modules, module_name, module)
    monkeypatch.delenv("WANDB_USERNAME", raising=False)
    monkeypatch.delenv("NEPTUNE_USERNAME", raising=False)
    return inits


class TestStringForms:
    """rsl_rl's string values select the same writers rsl_rl writes, plus metrics.jsonl, in a fixed order."""

    def test_tensorboard(self) -> None:
        assert _names(resolve_backends("tensorboard", {})) == ["tensorboard", "jsonl"]

    def test_wandb_uses_wandb_project(self, fake_packages: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
        runner_cfg = {"wandb_project": "legged", "neptune_project": "other", "seed": 1}
        backends = resolve_backends("wandb", runner_cfg)
        assert _names(backends) == ["tensorboard", "wandb", "jsonl"]
        backends[1][1](str(tmp_path / "run1"))
        (kwargs,) = fake_packages["wandb"]
        assert (kwargs["project"], kwargs["name"], kwargs["dir"]) == ("legged", "run1", str(tmp_path / "run1"))
        assert kwargs["config"] == {"runner": runner_cfg}

    def test_neptune_uses_neptune_project(self, fake_packages: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
        backends = resolve_backends("neptune", {"neptune_project": "ws/quad"}, config={"runner": {}, "env": {"a": 1}})
        assert _names(backends) == ["tensorboard", "neptune", "jsonl"]
        backends[1][1](str(tmp_path))
        assert fake_packages["neptune"][0]["project"] == "ws/quad"

    def test_missing_project_key_means_none(
        self, fake_packages: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        resolve_backends("wandb", {})[1][1](str(tmp_path))
        assert fake_packages["wandb"][0]["project"] is None

    def test_registered_name(self, tmp_path: Path) -> None:
        backends = resolve_backends("jsonl", {})
        assert _names(backends) == ["jsonl"]
        writer = backends[0][1](str(tmp_path))
        assert isinstance(writer, JsonlWriter)
        writer.write_scalars(3, {"Loss/value": 0.5})
        writer.close()
        assert json.loads((tmp_path / "metrics.jsonl").read_text()) == {"iteration": 3, "Loss/value": 0.5}

    def test_unknown_name_suggests(self) -> None:
        with pytest.raises(ConfigError, match=r"Unknown logger 'wandbb'.*Did you mean 'wandb'\?"):
            resolve_backends("wandbb", {})
        with pytest.raises(ConfigError, match="Did you mean 'tensorboard'"):
            resolve_backends("tensorbord", {})

    def test_wrong_type(self) -> None:
        with pytest.raises(ConfigError, match="got list"):
            resolve_backends(["wandb"], {})  # type: ignore[arg-type]


class TestMissingPackage:
    """A backend whose package is absent fails at resolve time with the pip command, before any training."""

    @pytest.mark.parametrize(
        "logger_cfg", ["wandb", "neptune", {"class_name": "WandbLogWriter"}, {"class_name": "NeptuneLogWriter"}]
    )
    def test_pip_hint(self, logger_cfg: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(resolve_module, "_is_installed", lambda module: False)
        backend = "wandb" if "andb" in str(logger_cfg) else "neptune"
        with pytest.raises(ConfigError, match=rf"pip install 'stride-rl\[{backend}\]'"):
            resolve_backends(logger_cfg, {})

    def test_really_absent_module_is_detected(self) -> None:
        assert resolve_module._is_installed("json")
        assert not resolve_module._is_installed("stride_no_such_package_xyz")


class TestDictForms:
    """The dict form maps project_name, checks every option against the writer and never mutates the input."""

    def test_wandb_class_name_with_options(
        self, fake_packages: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        cfg = {"class_name": "WandbLogWriter", "project_name": "p", "entity": "e", "mode": "offline"}
        before = copy.deepcopy(cfg)
        backends = resolve_backends(cfg, {"wandb_project": "ignored"})
        assert cfg == before
        assert _names(backends) == ["tensorboard", "wandb", "jsonl"]
        backends[1][1](str(tmp_path))
        backends[1][1](str(tmp_path))  # a factory can build twice from the same options
        first, second = fake_packages["wandb"]
        assert first == second
        assert (first["project"], first["entity"], first["mode"]) == ("p", "e", "offline")

    def test_dict_without_project_falls_back_to_runner_key(
        self, fake_packages: dict[str, list[dict[str, Any]]], tmp_path: Path
    ) -> None:
        resolve_backends({"class_name": "NeptuneLogWriter"}, {"neptune_project": "ws/x"})[1][1](str(tmp_path))
        assert fake_packages["neptune"][0]["project"] == "ws/x"

    def test_unknown_option_suggests(self, fake_packages: dict[str, list[dict[str, Any]]]) -> None:
        with pytest.raises(ConfigError, match=r"unknown config key 'logger.entitty' \(did you mean 'entity'\?\)"):
            resolve_backends({"class_name": "WandbLogWriter", "entitty": "e"}, {})

    def test_project_given_twice(self, fake_packages: dict[str, list[dict[str, Any]]]) -> None:
        with pytest.raises(ConfigError, match="both 'project_name'"):
            resolve_backends({"class_name": "WandbLogWriter", "project_name": "a", "project": "b"}, {})

    def test_missing_class_name(self) -> None:
        with pytest.raises(ConfigError, match="no 'class_name'"):
            resolve_backends({"project_name": "p"}, {})

    def test_unknown_bare_class_name_suggests(self) -> None:
        with pytest.raises(ConfigError, match="Did you mean 'WandbLogWriter'"):
            resolve_backends({"class_name": "WandBLogWriter"}, {})

    def test_tensorboard_dict_takes_its_options(self) -> None:
        assert _names(resolve_backends({"class_name": "tensorboard", "flush_secs": 5}, {})) == ["tensorboard", "jsonl"]
        with pytest.raises(ConfigError, match="flush_sec"):
            resolve_backends({"class_name": "tensorboard", "flush_sec": 5}, {})

    def test_registered_name_takes_no_options(self) -> None:
        with pytest.raises(ConfigError, match="takes no options"):
            resolve_backends({"class_name": "jsonl", "x": 1}, {})


class _StrideStyleWriter:
    def __init__(self, log_dir: str, tag: str = "") -> None:
        self.log_dir, self.tag = log_dir, tag
        self.rows: list[tuple[int, dict[str, float]]] = []
        self.closed = 0

    def write_scalars(self, step: int, scalars: Mapping[str, float]) -> None:
        self.rows.append((step, dict(scalars)))

    def close(self) -> None:
        self.closed += 1


class _RslRlStyleWriter:
    def __init__(self, log_dir: str, project_name: str) -> None:
        self.log_dir, self.project_name = log_dir, project_name
        self.calls: list[tuple[Any, ...]] = []

    def add_scalar(self, tag: str, scalar_value: float, global_step: int) -> None:
        self.calls.append((tag, scalar_value, global_step))

    def save_file(self, path: str) -> None:
        self.calls.append(("save_file", path))

    def stop(self) -> None:
        self.calls.append(("stop",))


class TestCustomClasses:
    """User classes, by object or by 'module:Attr', get log_dir and the dict's keys; rsl_rl-style ones are adapted."""

    def test_stride_style_class_through_run_logger(self, tmp_path: Path) -> None:
        backends = resolve_backends({"class_name": _StrideStyleWriter, "tag": "t"}, {})
        assert _names(backends) == ["_StrideStyleWriter", "jsonl"]
        writers = open_writers(backends, str(tmp_path))
        custom = writers[0]
        assert isinstance(custom, _StrideStyleWriter)
        assert (custom.log_dir, custom.tag) == (str(tmp_path), "t")
        logger = RunLogger(str(tmp_path), writers)
        logger.log(0, {"Loss/value": 1.5}, start_iteration=0, total_iterations=2)
        logger.log(1, {"Loss/value": 0.5}, start_iteration=0, total_iterations=2)
        logger.close()
        assert custom.rows == [(0, {"Loss/value": 1.5}), (1, {"Loss/value": 0.5})]
        assert custom.closed == 1
        lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(line)["Loss/value"] for line in lines] == [1.5, 0.5]

    def test_rsl_rl_style_class_by_module_attr(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        module = types.ModuleType("my_writers_pkg")
        module.MyWriter = _RslRlStyleWriter  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "my_writers_pkg", module)
        backends = resolve_backends({"class_name": "my_writers_pkg:MyWriter", "project_name": "p"}, {})
        assert _names(backends) == ["_RslRlStyleWriter", "jsonl"]
        adapter = backends[0][1](str(tmp_path))
        inner = adapter.writer  # type: ignore[attr-defined]
        assert (inner.log_dir, inner.project_name) == (str(tmp_path), "p")
        adapter.write_scalars(7, {"a": 1, "b": 2.5})
        upload_files([adapter], [str(tmp_path / "x.diff")])
        adapter.close()
        assert inner.calls == [("a", 1.0, 7), ("b", 2.5, 7), ("save_file", str(tmp_path / "x.diff")), ("stop",)]

    def test_module_attr_string_form(self, monkeypatch: pytest.MonkeyPatch) -> None:
        module = types.ModuleType("my_writers_pkg2")
        module.W = _StrideStyleWriter  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "my_writers_pkg2", module)
        assert _names(resolve_backends("my_writers_pkg2:W", {})) == ["_StrideStyleWriter", "jsonl"]

    def test_class_without_writer_methods(self) -> None:
        with pytest.raises(ConfigError, match="neither write_scalars"):
            resolve_backends({"class_name": "collections:OrderedDict"}, {})

    def test_unimportable_module(self) -> None:
        with pytest.raises(ConfigError, match="cannot import module 'no_such_mod_xyz'"):
            resolve_backends({"class_name": "no_such_mod_xyz:W"}, {})

    def test_log_dir_key_rejected(self) -> None:
        with pytest.raises(ConfigError, match="must not set 'log_dir'"):
            resolve_backends({"class_name": _StrideStyleWriter, "log_dir": "x"}, {})


class TestOpenAndUpload:
    """A writer failing to start or upload only warns; a ConfigError from a factory still stops the run."""

    def test_failing_factory_is_left_out(self, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        def broken(log_dir: str) -> Any:
            raise RuntimeError("no network")

        def good(log_dir: str) -> Any:
            return _StrideStyleWriter(log_dir)

        with caplog.at_level(logging.WARNING, logger="stride.logging.writers.resolve"):
            writers = open_writers([("broken", broken), ("good", good)], str(tmp_path))
        assert [type(writer) for writer in writers] == [_StrideStyleWriter]
        assert ["'broken' could not be started" in record.getMessage() for record in caplog.records] == [True]

    def test_config_error_propagates(self, tmp_path: Path) -> None:
        def strict(log_dir: str) -> Any:
            raise ConfigError("bad option")

        with pytest.raises(ConfigError, match="bad option"):
            open_writers([("strict", strict)], str(tmp_path))

    def test_upload_failures_warn(self, caplog: pytest.LogCaptureFixture) -> None:
        saved: list[str] = []

        class Uploader:
            def save_file(self, path: str) -> None:
                if path.endswith(".bad"):
                    raise OSError("quota")
                saved.append(path)

        with caplog.at_level(logging.WARNING, logger="stride.logging.writers.resolve"):
            upload_files([Uploader(), object()], ["a.diff", "b.bad", "c.pt"])
        assert saved == ["a.diff", "c.pt"]
        assert ["could not upload b.bad" in record.getMessage() for record in caplog.records] == [True]


class TestLazyImports:
    """Importing stride and its logging package (every writer registered) imports neither wandb nor neptune."""

    def test_no_optional_backend_imported(self) -> None:
        code = textwrap.dedent(
            """
            import sys
            import stride, stride.logging, stride.logging.writers, stride.utils.git_state
            from stride.logging.writers import available_writers
            assert {"wandb", "neptune"} <= set(available_writers())
            print(sorted(m for m in sys.modules if m.split(".")[0] in ("wandb", "neptune")))
            """
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
        assert done.stdout.strip() == "[]"
