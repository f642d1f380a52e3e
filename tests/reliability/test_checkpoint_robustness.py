"""R09: checkpoints survive injected write failures and SIGKILL mid-save; broken files are explained, never executed."""

from __future__ import annotations

import errno
import io
import os
import pickle
import random
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO, cast

import pytest
import torch

import stride.utils.checkpoint as checkpoint_module
from stride.env.tasks import make_task
from stride.runners import OnPolicyRunner
from stride.utils.checkpoint import atomic_save, load_checkpoint
from stride.utils.errors import CheckpointError

NUM_FAILURES = 200
NUM_KILLS = 20
_REAL_SAVE = torch.save


def _state(version: int) -> dict[str, Any]:
    """A small checkpoint-like dict whose every tensor encodes ``version``."""
    return {
        "schema_version": 1,
        "iter": version,
        "actor_state_dict": {"w": torch.full((32, 32), float(version)), "b": torch.arange(32.0) + version},
        "optimizer_state_dict": {"state": {0: {"step": torch.tensor(float(version))}}, "param_groups": []},
    }


def _check_version(path: Path, version: int) -> None:
    data = load_checkpoint(str(path))
    assert data["iter"] == version
    assert torch.equal(data["actor_state_dict"]["w"], torch.full((32, 32), float(version)))
    assert torch.equal(data["actor_state_dict"]["b"], torch.arange(32.0) + version)


class _FailingHandle:
    """File proxy that lets ``budget`` bytes through, writes the part of the chunk that fits, then raises EIO."""

    def __init__(self, handle: Any, budget: int) -> None:
        self._handle, self._budget = handle, budget

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if len(view) > self._budget:
            self._handle.write(view[: self._budget])
            self._budget = 0
            raise OSError(errno.EIO, "Input/output error (injected)")
        self._budget -= len(view)
        return self._handle.write(view)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._handle, name)


class _Injector:
    """Installs one failure per save attempt at a chosen stage of ``atomic_save``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, rng: random.Random) -> None:
        self.mode: str | None = None
        self.rng = rng
        self.offsets: list[int] = []
        real_fsync, real_replace, real_mkstemp = os.fsync, os.replace, checkpoint_module.tempfile.mkstemp
        monkeypatch.setattr(torch, "save", self._save)
        monkeypatch.setattr(os, "fsync", lambda fd: self._maybe_fail("fsync", errno.EIO) or real_fsync(fd))
        monkeypatch.setattr(os, "replace", lambda a, b: self._maybe_fail("replace", errno.EACCES) or real_replace(a, b))
        monkeypatch.setattr(
            checkpoint_module.tempfile,
            "mkstemp",
            lambda **kw: self._maybe_fail("mkstemp", errno.ENOSPC) or real_mkstemp(**kw),
        )

    def _maybe_fail(self, stage: str, code: int) -> None:
        if self.mode == stage:
            self.mode = None  # fail once per attempt (the folder fsync after a replace is not targeted)
            raise OSError(code, f"{os.strerror(code)} (injected at {stage})")

    def _save(self, obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
        if self.mode == "truncated_write":  # torch.save completes into memory, only a prefix reaches the disk
            buffer = io.BytesIO()
            _REAL_SAVE(obj, buffer, *args, **kwargs)
            offset = self.rng.randrange(0, len(buffer.getvalue()))
            self.offsets.append(offset)
            handle.write(buffer.getvalue()[:offset])
            raise OSError(errno.ENOSPC, "No space left on device (injected)")
        if self.mode == "write_error":  # the disk fails inside torch's own writer at a random byte
            offset = self.rng.randrange(0, 4 * 32 * 32 + 1024)
            self.offsets.append(offset)
            _REAL_SAVE(obj, cast(BinaryIO, _FailingHandle(handle, offset)), *args, **kwargs)
            return
        _REAL_SAVE(obj, handle, *args, **kwargs)


_MODES = ("truncated_write", "write_error", "fsync", "replace", "mkstemp")


class TestInjectedWriteFailures:
    """200 failed saves at every stage (partial writes at random offsets, fsync, rename, temp creation): the latest
    file always loads and holds the last successful version, and no temporary file is left behind."""

    def test_failure_loop(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record_property: Any) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(0), str(path))
        injector = _Injector(monkeypatch, random.Random(0))
        plan = [_MODES[i % len(_MODES)] for i in range(NUM_FAILURES)]
        random.Random(1).shuffle(plan)
        good, unreadable = 0, 0
        raised: dict[str, set[str]] = {mode: set() for mode in _MODES}
        for attempt, mode in enumerate(plan, start=1):
            injector.mode = mode
            with pytest.raises(Exception) as err:  # the type per stage is checked below
                atomic_save(_state(attempt), str(path))
            raised[mode].add(type(err.value).__name__)
            assert os.listdir(tmp_path) == ["model.pt"], f"{mode}: temp file left: {os.listdir(tmp_path)}"
            try:
                _check_version(path, good)
            except CheckpointError:
                unreadable += 1
            if attempt % 4 == 0:  # a successful save now and then moves the expected version on
                injector.mode = None
                atomic_save(_state(attempt), str(path))
                good = attempt
                _check_version(path, good)
        record_property("failures", f"{NUM_FAILURES} injected, unreadable={unreadable}, raised={raised}")
        assert unreadable == 0
        assert good == NUM_FAILURES
        # every injected failure did surface as an error (none was swallowed)
        assert all(raised[mode] for mode in _MODES)
        # the partial writes really were partial, at many offsets
        assert len(injector.offsets) == 2 * NUM_FAILURES // len(_MODES)
        assert len(set(injector.offsets)) > 60

    @pytest.mark.parametrize("mode", _MODES)
    def test_failure_is_a_checkpoint_error(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(0), str(path))
        injector = _Injector(monkeypatch, random.Random(2))
        injector.mode = mode
        with pytest.raises(CheckpointError, match="injected") as err:
            atomic_save(_state(1), str(path))
        assert f"'{path}'" in str(err.value)

    def test_interrupt_mid_write_leaves_no_temp(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        path = tmp_path / "model.pt"
        atomic_save(_state(1), str(path))

        def interrupted(obj: Any, handle: Any, *args: Any, **kwargs: Any) -> None:
            handle.write(b"PK\x03\x04partial")
            raise KeyboardInterrupt

        monkeypatch.setattr(torch, "save", interrupted)
        with pytest.raises(KeyboardInterrupt):  # not turned into a CheckpointError: the user asked to stop
            atomic_save(_state(2), str(path))
        assert os.listdir(tmp_path) == ["model.pt"]
        _check_version(path, 1)


_PAYLOAD_MB = 5


_SAVER = textwrap.dedent(
    """
    import sys, torch
    from stride.utils.checkpoint import atomic_save
    path, version = sys.argv[1], int(sys.argv[2])
    payload = torch.arange(int(sys.argv[3]) * 2**20 // 4, dtype=torch.float32)
    while True:  # save forever, until SIGKILL; say when the first save is complete
        payload[0] = float(version)
        atomic_save({"iter": version, "payload": payload}, path)
        if version == int(sys.argv[2]):
            print("saved", flush=True)
        version += 1
    """
)


class TestSigkillMidSave:
    """20 SIGKILLs of a process saving 5 MB checkpoints in a loop: the main file always loads and is complete
    (after a kill a leftover ``.tmp-*`` file is allowed). The saver is a fresh interpreter (not a fork of the test
    process, whose OpenMP pool could stall a forked child)."""

    # each kill starts a fresh interpreter (about 1-2 s): 5 kills in the default tier, the full 20 in the slow one
    @pytest.mark.parametrize("num_kills", [5, pytest.param(NUM_KILLS, marks=pytest.mark.slow)])
    def test_kills(self, tmp_path: Path, record_property: Any, num_kills: int) -> None:
        path = tmp_path / "model.pt"
        expected_tail = torch.arange(_PAYLOAD_MB * 2**20 // 4, dtype=torch.float32)[1:]
        start = time.perf_counter()
        atomic_save({"iter": -1, "payload": torch.zeros(_PAYLOAD_MB * 2**20 // 4)}, str(path))
        save_seconds = time.perf_counter() - start
        rng = random.Random(7)
        last, mid_save, unreadable, kills = -1, 0, 0, 0
        env = dict(os.environ, OMP_NUM_THREADS="1")
        for round_index in range(num_kills):
            args = [sys.executable, "-c", _SAVER, str(path), str(round_index * 1_000_000), str(_PAYLOAD_MB)]
            proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == b"saved", "the saver did not start"
            # kill at a random point of its save loop
            time.sleep(rng.uniform(0.0, 3.0) * max(save_seconds, 0.02))
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=60) == -signal.SIGKILL, "the saver exited by itself"
            proc.stdout.close()
            kills += 1
            leftovers = [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
            mid_save += bool(leftovers)
            try:
                data = load_checkpoint(str(path))
            except CheckpointError:
                unreadable += 1
                continue
            version = data["iter"]
            assert version >= last
            assert data["payload"][0] == float(version) and torch.equal(data["payload"][1:], expected_tail)
            last = version
            for name in leftovers:
                os.unlink(tmp_path / name)
        record_property("sigkill", f"kills={kills} mid_save={mid_save} unreadable={unreadable} save_s={save_seconds}")
        assert kills == num_kills and unreadable == 0
        assert mid_save >= max(num_kills // 4, 1), f"only {mid_save} of {num_kills} kills landed inside a save"


class _Evil:
    """Pickles to a call of os.mkdir: loading it with weights_only=False would create ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def _runner_checkpoint(path: Path) -> bytes:
    cfg = {
        "num_steps_per_env": 4,
        "seed": 0,
        "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 1},
        "actor": {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution", "init_std": 1.0}},
        "critic": {"hidden_dims": [8]},
    }
    runner = OnPolicyRunner(make_task("cartpole", num_envs=4), cfg, log_dir=None)
    runner.save(str(path))
    return path.read_bytes()


class TestBrokenFiles:
    """Truncated, empty and foreign files raise CheckpointError naming the path and the cause; loads are
    weights-only, so a pickled object is refused and its code never runs."""

    def test_truncated_at_five_lengths(self, tmp_path: Path) -> None:
        full = _runner_checkpoint(tmp_path / "full.pt")
        lengths = [1, 64, len(full) // 4, len(full) // 2, len(full) - 1]
        for length in lengths:
            path = tmp_path / f"cut_{length}.pt"
            path.write_bytes(full[:length])
            with pytest.raises(CheckpointError, match=r"cannot be read \(\w+(Error|Exception)?: ") as err:
                load_checkpoint(str(path))
            assert f"'{path}'" in str(err.value)
        assert isinstance(load_checkpoint(str(tmp_path / "full.pt")), dict)  # the uncut file loads

    def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.pt"
        path.write_bytes(b"")
        with pytest.raises(CheckpointError, match=r"'.*empty\.pt' is empty \(0 bytes\)"):
            load_checkpoint(str(path))

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(CheckpointError, match=r"'.*nothing\.pt' does not exist"):
            load_checkpoint(str(tmp_path / "nothing.pt"))

    @pytest.mark.filterwarnings("ignore:Detected pickle protocol")
    @pytest.mark.parametrize("kind", ["pickled_list", "text", "foreign_zip", "plain_pickle", "numpy_file"])
    def test_foreign_files(self, tmp_path: Path, kind: str) -> None:
        path = tmp_path / f"{kind}.pt"
        if kind == "pickled_list":
            _REAL_SAVE([1, 2, 3], str(path))
            expected = r"holds a list, expected a dict"
        elif kind == "text":
            path.write_text("actor_state_dict: not really\n")
            expected = r"cannot be read \(\w+"
        elif kind == "foreign_zip":
            with zipfile.ZipFile(path, "w") as archive:
                archive.writestr("weights/data.txt", "1 2 3")
            expected = r"cannot be read \(\w+"
        elif kind == "plain_pickle":
            path.write_bytes(pickle.dumps({"actor_state_dict": {}}))
            expected = r"cannot be read \(\w+"
        else:
            path.write_bytes(b"\x93NUMPY\x01\x00" + b"\x00" * 120)
            expected = r"cannot be read \(\w+"
        with pytest.raises(CheckpointError, match=expected) as err:
            load_checkpoint(str(path))
        assert f"'{path}'" in str(err.value)

    @pytest.mark.parametrize("nested", [False, True])
    def test_pickled_object_is_refused_and_never_runs(self, tmp_path: Path, nested: bool) -> None:
        marker = tmp_path / "code_ran"
        path = tmp_path / "evil.pt"
        evil = _Evil(marker)
        _REAL_SAVE({"actor_state_dict": {"w": torch.zeros(2)}, "infos": evil} if nested else evil, str(path))
        with pytest.raises(CheckpointError, match=r"cannot be read \(UnpicklingError: .*[Ww]eights.only") as err:
            load_checkpoint(str(path))
        assert f"'{path}'" in str(err.value)
        assert not marker.exists()
        # not vacuous: an unrestricted load would have run the code
        torch.load(path, weights_only=False)
        assert marker.is_dir()

    def test_every_load_is_weights_only(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        _runner_checkpoint(tmp_path / "model.pt")
        calls: list[Any] = []
        real_load = torch.load

        def spy(*args: Any, **kwargs: Any) -> Any:
            calls.append(kwargs.get("weights_only"))
            return real_load(*args, **kwargs)

        monkeypatch.setattr(torch, "load", spy)
        load_checkpoint(str(tmp_path / "model.pt"))
        cfg = {
            "num_steps_per_env": 4,
            "algorithm": {"num_learning_epochs": 1, "num_mini_batches": 1},
            "actor": {"hidden_dims": [8], "distribution_cfg": {"class_name": "GaussianDistribution"}},
            "critic": {"hidden_dims": [8]},
        }
        OnPolicyRunner(make_task("cartpole", num_envs=4), cfg, log_dir=None).load(str(tmp_path / "model.pt"))
        assert calls == [True, True]
