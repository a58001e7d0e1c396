"""`deconnexion.web._http.direct_call`: what calling an ASGI app calls, bound once."""

from __future__ import annotations

from functools import partial
from types import MethodType
from typing import Any

import pytest

from deconnexion.web._http import direct_call

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class App:
    def __init__(self) -> None:
        self.calls: list[Any] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls.append(scope)


class Derived(App):
    pass


async def function_app(scope: Any, receive: Any, send: Any) -> None:
    scope["seen"] = True


async def test_an_instance_s_python_call_is_bound_to_it() -> None:
    app = Derived()
    call = direct_call(app)
    assert isinstance(call, MethodType) and call.__self__ is app
    await call({"n": 1}, None, None)
    assert app.calls == [{"n": 1}]


async def test_functions_partials_and_classes_are_called_as_given() -> None:
    assert direct_call(function_app) is function_app
    bound = partial(function_app)
    assert direct_call(bound) is bound
    assert direct_call(App) is App  # an ASGI 2 style class: calling it builds an instance
    scope: dict[str, Any] = {}
    await direct_call(function_app)(scope, None, None)
    assert scope == {"seen": True}
