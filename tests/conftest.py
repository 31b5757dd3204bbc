"""Fixtures shared by the test modules."""

from __future__ import annotations

from collections.abc import Callable

import pytest


@pytest.fixture
def count_calls(monkeypatch) -> Callable[[type, str], list[int]]:
    """``count_calls(cls, name)`` wraps the method ``cls.name`` so every call appends to the list it returns.

    The wrapper goes through ``monkeypatch``, so ``monkeypatch.undo()`` or the end of the
    test restores the method.
    """

    def wrap(cls: type, name: str) -> list[int]:
        calls: list[int] = []
        original = getattr(cls, name)

        def counted(self, *args, **kwargs):
            calls.append(1)
            return original(self, *args, **kwargs)

        monkeypatch.setattr(cls, name, counted)
        return calls

    return wrap
