"""Database faults for tests: make writes to ``people`` fail, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlalchemy import Engine, text

MESSAGE = "simulated failure"


def break_person_writes(engine: Engine) -> None:
    """Every INSERT or UPDATE on ``people`` raises (as a full disk or a bad constraint would)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN "
                    f"RAISE EXCEPTION '{MESSAGE}'; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER boom BEFORE INSERT OR UPDATE ON people "
                    "FOR EACH ROW EXECUTE FUNCTION boom()"
                )
            )
            return
        for event in ("INSERT", "UPDATE"):
            conn.execute(
                text(
                    f"CREATE TRIGGER boom_{event.lower()} BEFORE {event} ON people "
                    f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
                )
            )


def restore_person_writes(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("DROP TRIGGER boom ON people"))
        else:
            for event in ("insert", "update"):
                conn.execute(text(f"DROP TRIGGER boom_{event}"))
