"""Algorithm extensions (symmetry, RND, user hooks) behind one protocol."""

from __future__ import annotations

from stride.extensions.base import Extension, check_compatibility

__all__ = ["Extension", "check_compatibility"]
