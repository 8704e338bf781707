"""``make web-demo``'s setup: a fresh demo database with a client, its admin and a staff user
whose passwords are set, then the address and the credentials printed (``python -m
ops.web_demo``). Demo only: the passwords are random for each run (never a default one) and
set through the same one-time link a real user gets (``service.users``); the Makefile runs it
on a SQLite file under ``.demo-web/`` and starts ``orgload web`` with plain-HTTP cookies.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

from orgload.settings import Settings, load_settings

CLIENT_ID = "demo"
CLIENT_NAME = "Demo SpA"
ADMIN = "admin@demo.cl"
STAFF = "soporte@demo.cl"


@dataclass(frozen=True, slots=True)
class DemoSite:
    url: str
    admin: str
    admin_password: str
    staff: str
    staff_password: str


def set_up(settings: Settings, url: str) -> DemoSite:
    """Migrate the database, register the demo client and its two users with new passwords."""
    from service.clients import register_client
    from service.database import upgrade_database
    from service.users import add_user, set_password

    upgrade_database(settings)
    register_client(settings, CLIENT_ID, CLIENT_NAME, admin_email=ADMIN)
    passwords = {}
    for email, client_id in ((ADMIN, CLIENT_ID), (STAFF, None)):
        added = add_user(settings, email, client_id=client_id, staff_user=client_id is None)
        passwords[email] = secrets.token_urlsafe(12)  # 16 characters; a new one every run
        set_password(settings, added.token, passwords[email])
    return DemoSite(url, ADMIN, passwords[ADMIN], STAFF, passwords[STAFF])


def main() -> None:
    host = os.environ.get("ORGLOAD_WEB_HOST", "127.0.0.1")
    port = os.environ.get("ORGLOAD_WEB_PORT", "8000")
    site = set_up(load_settings(), f"http://{host}:{port}/")
    print(
        f"orgload web demo — {site.url}\n"
        f"  client admin ({CLIENT_NAME}): {site.admin}  password: {site.admin_password}\n"
        f"  staff (support, ops):        {site.staff}  password: {site.staff_password}\n"
        "  try: upload sample_data/organizacion_invalida.xlsx (the errors), then "
        "sample_data/organizacion_2026-11.xlsx (preview, confirm)\n"
        "  passwords are new each run; Ctrl-C stops the app"
    )


if __name__ == "__main__":
    main()
