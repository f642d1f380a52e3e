"""rsl_rl's algorithm methods over stride's state handling: ``alg.save()`` and ``alg.load(...)``.

Downstream runners call these directly (mjlab's ``MjlabOnPolicyRunner.save`` writes ``alg.save()`` plus ``iter`` and
``infos`` with ``torch.save``; its ``load`` calls ``alg.load(loaded_dict, load_cfg, strict)``), so a stride algorithm
answers them with rsl_rl's meaning: ``save`` returns the checkpoint dict (rsl_rl's key names), ``load`` restores the
parts ``load_cfg`` names true (all when None) and returns whether the runner should restore the iteration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Protocol

__all__ = ["RslRlSurface"]


class _StatefulAlgorithm(Protocol):
    rsl_rl_parts: ClassVar[dict[str, str]]

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(
        self, state: Mapping[str, Any], load_cfg: Mapping[str, bool] | None = None, strict: bool = True
    ) -> None: ...

    def convert_checkpoint(self, data: Mapping[str, Any], strict: bool) -> tuple[dict[str, Any], list[str] | None]: ...


class RslRlSurface:
    """Mixin: ``save()`` / ``load()`` with rsl_rl's signatures and meaning.

    The class sets :attr:`rsl_rl_parts`, rsl_rl's ``load_cfg`` keys → the parts of its own ``load_state_dict``.
    """

    rsl_rl_parts: ClassVar[dict[str, str]] = {}
    """rsl_rl ``load_cfg`` key → the part of ``load_state_dict`` it selects (``iteration`` is the runner's)."""

    def save(self: _StatefulAlgorithm) -> dict[str, Any]:
        """The algorithm's checkpoint dict (rsl_rl's key names where they exist), as rsl_rl's ``alg.save()``."""
        return self.state_dict()

    def load(
        self: _StatefulAlgorithm,
        loaded_dict: Mapping[str, Any],
        load_cfg: Mapping[str, bool] | None = None,
        strict: bool = True,
    ) -> bool:
        """Restore a checkpoint dict as rsl_rl's ``alg.load`` does.

        Args:
            loaded_dict: A checkpoint dict written by stride or by rsl_rl (any layout stride converts).
            load_cfg: None restores every part; a dict restores exactly the parts it names true (rsl_rl's keys,
                e.g. ``{"actor": True}``).
            strict: Require the checkpoint's keys to equal the models'.

        Returns:
            Whether ``load_cfg`` asks for the iteration (the caller then sets its iteration counter).

        Raises:
            CheckpointError: If a selected part does not match the models.
        """
        data, _ = self.convert_checkpoint(loaded_dict, strict)
        if load_cfg is None:
            wanted = {key: True for key in (*self.rsl_rl_parts, "iteration")}
        else:
            wanted = {key: bool(load_cfg.get(key, False)) for key in (*self.rsl_rl_parts, "iteration")}
        parts = {part: wanted[key] for key, part in self.rsl_rl_parts.items()}
        # recurrent states belong to a continuing run; the rest of the selection decides
        parts["recurrent_state"] = load_cfg is None or wanted["iteration"]
        self.load_state_dict(data, parts, strict)
        return wanted["iteration"]
