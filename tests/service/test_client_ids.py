"""Client ids are slugs wherever they arrive in the service layer (SPEC §6), on both databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from orgload.errors import UsageError
from orgload.settings import Settings
from orgload.slugs import CLIENT_ID_MAX, check_client_id, is_client_id

NOT_SLUGS = ["../../etc", "acme/sub", "Acme", "acme sub", "acme\n", "a" * 41, "-a", "_a", "", "ñu"]
SLUGS = ["acme", "a", "7", "acme-cl", "acme_cl", "0-_", "a" * CLIENT_ID_MAX]


@pytest.mark.parametrize("value", SLUGS)
def test_a_slug_is_a_client_id(value: str) -> None:
    assert is_client_id(value)
    assert check_client_id(value) == value


@pytest.mark.parametrize("value", NOT_SLUGS, ids=repr)
def test_anything_else_is_refused_as_usage(value: str) -> None:
    assert not is_client_id(value)
    with pytest.raises(UsageError) as refused:
        check_client_id(value)
    assert refused.value.exit_code == 2
    assert refused.value.code == "invalid_client_id"
    assert "\n" not in refused.value.message


def _calls(samples: Path) -> dict[str, Callable[[Settings, Any, str], object]]:
    from service.clients import register_client
    from service.files import export_client
    from service.loads import LoadRequest, client_history, client_quota, run_load

    return {
        "register": lambda s, e, c: register_client(s, c, "X", engine=e),
        "load": lambda s, e, c: run_load(
            s, LoadRequest(c, [samples / "organizacion_2026-11.xlsx"]), e
        ),
        "quota": lambda s, e, c: client_quota(s, c, e),
        "history": lambda s, e, c: client_history(s, c, e),
        "export": lambda s, e, c: export_client(s, c, "json", None, e),
    }


@pytest.mark.parametrize("call", ["register", "load", "quota", "history", "export"])
def test_every_use_case_refuses_an_id_that_is_not_a_slug(
    call: str, settings: Settings, engine: Any, samples: Path
) -> None:
    from service.clients import registered_clients

    for bad in ("../../etc", "Acme", "acme\n"):
        with pytest.raises(UsageError):
            _calls(samples)[call](settings, engine, bad)
    assert registered_clients(settings, engine) == []
    assert not (settings.home / "archive").exists()
