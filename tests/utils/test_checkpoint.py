"""Tests for stride.utils.checkpoint: atomic writes and explained, weights-only reads (RELIABILITY R09)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import torch

import stride.utils.checkpoint as checkpoint_module
from stride.utils.checkpoint import atomic_save, load_checkpoint
from stride.utils.errors import CheckpointError


def _state(value: float = 1.0) -> dict[str, Any]:
    return {
        "weights": torch.full((64, 64), value),
        "iter": int(value),
        "nested": {"lr": torch.tensor(value * 1e-3), "names": ["a", "b"]},
    }


def _assert_state(data: dict[str, Any], value: float) -> None:
    assert torch.equal(data["weights"], torch.full((64, 64), value))
    assert data["iter"] == int(value)
    assert data["nested"]["names"] == ["a", "b"]


class _Opaque:
    """A pickled class instance: weights_only loading must refuse it."""

    def __init__(self) -> None:
        self.x = 1


class TestAtomicSave:
    """atomic_save writes a complete file, overwrites in place and leaves no temporary files."""

    def test_writes_loadable_file_without_temp_files(self, tmp_path: Path) -> None:
        path = tmp_path / "sub" / "model.pt"
        atomic_save(_state(2.0), str(path))
        assert os.listdir(tmp_path / "sub") == ["model.pt"]
        _assert_state(torch.load(path, weights_only=True), 2.0)
        atomic_save(_state(3.0), str(path))
        assert os.listdir(tmp_path / "sub") == ["model.pt"]
        _assert_state(load_checkpoint(str(path)), 3.0)

    @pytest.mark.parametrize("error", [OSError(28, "No space left on device"), KeyboardInterrupt()])
    def test_failed_write_keeps_previous_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: BaseException
    ) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(1.0), str(path))
        previous = path.read_bytes()
        real_save = torch.save

        def failing_save(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            real_save(obj, handle, *args, **kwargs)  # write a full payload, then fail before the rename
            handle.seek(len(previous) // 2)
            handle.truncate()
            raise error

        monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
        expected = CheckpointError if isinstance(error, OSError) else KeyboardInterrupt
        with pytest.raises(expected) as info:
            atomic_save(_state(5.0), str(path))
        if isinstance(error, OSError):
            assert str(path) in str(info.value) and "No space left" in str(info.value)
            assert isinstance(info.value.__cause__, OSError)
        assert path.read_bytes() == previous
        _assert_state(load_checkpoint(str(path)), 1.0)
        assert os.listdir(tmp_path) == ["model.pt"]

    def test_failed_first_write_leaves_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        def failing_save(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            handle.write(b"partial")
            raise OSError(5, "Input/output error")

        monkeypatch.setattr(checkpoint_module.torch, "save", failing_save)
        with pytest.raises(CheckpointError):
            atomic_save(_state(), str(tmp_path / "model.pt"))
        assert os.listdir(tmp_path) == []

    def test_file_mode_follows_umask(self, tmp_path: Path) -> None:
        umask = os.umask(0o022)
        try:
            path = tmp_path / "model.pt"
            atomic_save(_state(), str(path))
            assert stat.S_IMODE(path.stat().st_mode) == 0o644
        finally:
            os.umask(umask)


class TestLoadCheckpoint:
    """load_checkpoint raises CheckpointError naming the path for missing, empty, truncated, foreign files."""

    def test_missing(self, tmp_path: Path) -> None:
        path = tmp_path / "nope.pt"
        with pytest.raises(CheckpointError, match="does not exist") as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    def test_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.pt"
        path.write_bytes(b"")
        with pytest.raises(CheckpointError, match="empty") as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    @pytest.mark.parametrize("fraction", [0.5, 0.1, 0.9])
    def test_truncated(self, tmp_path: Path, fraction: float) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(), str(path))
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(CheckpointError, match="cannot be read") as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    def test_garbage(self, tmp_path: Path) -> None:
        path = tmp_path / "garbage.pt"
        path.write_bytes(os.urandom(4096))
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    def test_text_file(self, tmp_path: Path) -> None:
        path = tmp_path / "config.yaml"
        path.write_text("runner:\n  seed: 1\n")
        with pytest.raises(CheckpointError, match="cannot be read"):
            load_checkpoint(str(path))

    def test_not_a_dict(self, tmp_path: Path) -> None:
        path = tmp_path / "list.pt"
        torch.save([torch.zeros(2)], path)
        with pytest.raises(CheckpointError, match="list") as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    def test_pickled_object_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "unsafe.pt"
        torch.save({"obj": _Opaque()}, path)
        with pytest.raises(CheckpointError, match="cannot be read") as info:
            load_checkpoint(str(path))
        assert str(path) in str(info.value)

    def test_map_location(self, tmp_path: Path) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(4.0), str(path))
        data = load_checkpoint(str(path), map_location="cpu")
        _assert_state(data, 4.0)
        assert data["weights"].device.type == "cpu"
