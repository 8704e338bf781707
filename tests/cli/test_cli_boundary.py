"""The real `orgload` command at its boundary: clumsy paths, bad settings, unreachable databases
and client ids that are not slugs get one line on stderr and their exit code, never a
traceback (issue 11, items 6 and 7; SPEC §6)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from tests.databases import IN_CI

EXE = Path(sys.executable).with_name("orgload")
NOV = "organizacion_2026-11.xlsx"
INVALID = "organizacion_invalida.xlsx"
LONG_NAME = "a" * 300 + ".xlsx"  # over the 255-byte limit of a file name
MESSAGE_MAX = 320  # "orgload: " and a message of at most ~300 characters

runner = CliRunner()


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def orgload(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Ran:
    """Run the installed console script, with the test's environment (ORGLOAD_HOME etc.)."""
    done = subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def assert_one_line(ran: Ran, code: int) -> str:
    """The answer of a refused command: its exit code, exactly one short line on stderr, no
    traceback anywhere; returns that line."""
    assert "Traceback" not in ran.stdout + ran.stderr, ran.stderr
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("orgload: "), lines[0]
    assert len(lines[0]) <= MESSAGE_MAX, lines[0]
    assert ran.code == code, (ran.code, ran.stderr)
    return lines[0]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def leftovers(folder: Path) -> list[str]:
    """Temporary files a refused or failed write would have left behind."""
    return sorted(p.name for p in folder.rglob("*") if ".orgload-" in p.name)


@pytest.fixture
def upload(samples: Path, tmp_path: Path) -> Path:
    """A copy of an invalid upload (it gets a report) that tests may try to overwrite."""
    folder = tmp_path / "uploads"
    folder.mkdir()
    return Path(shutil.copy(samples / INVALID, folder / INVALID))


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A regular file, to put other paths "under" it."""
    path = tmp_path / "plain.txt"
    path.write_text("not a folder\n", encoding="utf-8")
    return path


@pytest.fixture
def client(database_url: str) -> str:
    result = runner.invoke(app, ["clients", "add", "acme", "--name", "ACME"])
    assert result.exit_code == 0, result.stderr
    return "acme"


# --- input files ----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "load"])
def test_an_input_name_over_255_bytes_is_one_line_exit_2(command: str, tmp_path: Path) -> None:
    ran = orgload(command, "--client", "acme", str(tmp_path / LONG_NAME))
    line = assert_one_line(ran, 2)
    assert "…" in line  # the 300-character name is shortened in the message


@pytest.mark.parametrize("command", ["validate", "load"])
def test_a_folder_as_the_input_file_is_one_line_exit_2(command: str, tmp_path: Path) -> None:
    assert_one_line(orgload(command, "--client", "acme", str(tmp_path)), 2)


def test_a_terminal_escape_in_a_file_name_is_never_echoed_raw(tmp_path: Path) -> None:
    ran = orgload("validate", "--client", "acme", str(tmp_path / "\x1b[31mred\x07.xlsx"))
    line = assert_one_line(ran, 2)
    assert "\x1b" not in ran.stderr
    assert "\x07" not in ran.stderr
    assert "U+001B" in line


# --- --report -------------------------------------------------------------------------------


def test_a_folder_as_report_is_refused_before_any_work(upload: Path, tmp_path: Path) -> None:
    folder = tmp_path / "reports"
    folder.mkdir()
    assert_one_line(
        orgload("validate", "--client", "acme", str(upload), "--report", str(folder)), 2
    )
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("spelling", ["same", "relative", "dotted", "symlink", "hardlink"])
def test_a_report_equal_to_the_upload_is_refused_and_the_upload_kept(
    spelling: str, upload: Path
) -> None:
    before = digest(upload)
    folder = upload.parent
    report = {
        "same": str(upload),
        "relative": upload.name,
        "dotted": f"../{folder.name}/./{upload.name}",
        "symlink": "link.xlsx",
        "hardlink": "hard.xlsx",
    }[spelling]
    if spelling == "symlink":
        (folder / "link.xlsx").symlink_to(upload)
    if spelling == "hardlink":
        os.link(upload, folder / "hard.xlsx")
    ran = orgload("validate", "--client", "acme", str(upload), "--report", report, cwd=folder)
    assert_one_line(ran, 2)
    assert digest(upload) == before
    assert leftovers(folder) == []


def test_a_report_equal_to_either_csv_of_a_pair_is_refused(samples: Path, tmp_path: Path) -> None:
    for name in ("unidades.csv", "personas.csv"):
        shutil.copy(samples / "csv" / name, tmp_path / name)
    units, people = tmp_path / "unidades.csv", tmp_path / "personas.csv"
    before = digest(people)
    ran = orgload("validate", "--client", "acme", str(units), str(people), "--report", str(people))
    assert_one_line(ran, 2)
    assert digest(people) == before


@pytest.mark.parametrize("where", ["under_a_file", "long_name"])
def test_a_report_that_cannot_be_written_is_one_line_exit_2(
    where: str, upload: Path, a_file: Path
) -> None:
    report = a_file / "r.xlsx" if where == "under_a_file" else upload.parent / LONG_NAME
    ran = orgload("validate", "--client", "acme", str(upload), "--report", str(report))
    assert_one_line(ran, 2)
    assert leftovers(upload.parent) == []


def test_a_report_in_a_new_folder_is_still_written(upload: Path, tmp_path: Path) -> None:
    report = tmp_path / "new" / "folder" / "errores.xlsx"
    ran = orgload("validate", "--client", "acme", str(upload), "--report", str(report))
    assert ran.code == 1, ran.stderr  # invalid upload: exit 1, and the report is there
    assert report.is_file()
    assert leftovers(tmp_path) == []


# --- -o of export and template --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"), [("xlsx", "sub.xlsx"), ("json", "sub.json"), ("csv", "sub"), ("csv", "s.zip")]
)
def test_export_under_a_file_is_one_line_exit_2(
    client: str, a_file: Path, fmt: str, name: str
) -> None:
    ran = orgload("export", "--client", client, "--format", fmt, "-o", str(a_file / name))
    assert_one_line(ran, 2)


@pytest.mark.parametrize(
    ("fmt", "kind"), [("xlsx", "folder"), ("json", "folder"), ("csv", "file"), ("xlsx", "long")]
)
def test_export_to_a_path_of_the_wrong_kind_is_one_line_exit_2(
    client: str, tmp_path: Path, a_file: Path, fmt: str, kind: str
) -> None:
    target = {"folder": tmp_path, "file": a_file, "long": tmp_path / LONG_NAME}[kind]
    before = digest(a_file)
    assert_one_line(orgload("export", "--client", client, "--format", fmt, "-o", str(target)), 2)
    assert digest(a_file) == before
    assert leftovers(tmp_path) == []


def test_export_still_writes_every_format(client: str, tmp_path: Path) -> None:
    for fmt, name in (("xlsx", "a.xlsx"), ("json", "a.json"), ("csv", "a.zip"), ("csv", "dir")):
        ran = orgload("export", "--client", client, "--format", fmt, "-o", str(tmp_path / name))
        assert ran.code == 0, ran.stderr
    assert (tmp_path / "a.xlsx").is_file()
    assert json.loads((tmp_path / "a.json").read_text("utf-8")) == {"unidades": [], "personas": []}
    assert (tmp_path / "a.zip").is_file()
    assert sorted(p.name for p in (tmp_path / "dir").iterdir()) == ["personas.csv", "unidades.csv"]
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("where", ["under_a_file", "folder", "long_name"])
def test_template_to_an_unwritable_path_is_one_line_exit_2(
    where: str, tmp_path: Path, a_file: Path
) -> None:
    target = {
        "under_a_file": a_file / "t.xlsx",
        "folder": tmp_path,
        "long_name": tmp_path / LONG_NAME,
    }[where]
    assert_one_line(orgload("template", "-o", str(target)), 2)
    assert leftovers(tmp_path) == []


def test_outputs_never_overwrite_the_sqlite_database(orgload_env: Path, tmp_path: Path) -> None:
    assert orgload("db", "upgrade").code == 0
    assert orgload("clients", "add", "acme", "--name", "ACME").code == 0
    database = orgload_env / "orgload.db"
    before = digest(database)
    assert_one_line(orgload("export", "--client", "acme", "-o", str(database)), 2)
    assert_one_line(orgload("template", "-o", str(database)), 2)
    assert digest(database) == before
    assert orgload("clients", "list", "--json").code == 0


# --- ORGLOAD_HOME ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["clients list", "load"])
def test_a_home_under_a_regular_file_is_a_configuration_error(
    command: str, a_file: Path, samples: Path
) -> None:
    args = command.split() + (["--client", "acme", str(samples / NOV)] if command == "load" else [])
    ran = orgload(*args, env={"ORGLOAD_HOME": str(a_file / "home")})
    assert "ORGLOAD_HOME" in assert_one_line(ran, 2)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_a_home_that_cannot_be_created_even_by_root_is_a_configuration_error(
    samples: Path,
) -> None:
    env = {"ORGLOAD_HOME": "/proc/self/orgload-home"}  # /proc refuses mkdir to root too
    assert_one_line(orgload("clients", "list", env=env), 2)
    assert_one_line(orgload("load", "--client", "acme", str(samples / NOV), env=env), 2)


def _without_dac_override() -> list[str] | None:
    """A prefix that runs a command with permission bits enforced: none needed for a normal
    user; for root, ``setpriv`` dropping CAP_DAC_OVERRIDE; None when neither is possible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    return [setpriv, f"--bounding-set={caps}", f"--inh-caps={caps}"]


def test_a_read_only_home_is_refused_before_a_load(samples: Path, tmp_path: Path) -> None:
    prefix = _without_dac_override()
    if prefix is None:
        if IN_CI:
            pytest.fail("CI runs as root and needs setpriv (util-linux) for this test")
        pytest.skip("running as root without setpriv: permission bits cannot be enforced")
    home = tmp_path / "read-only-home"
    home.mkdir()
    home.chmod(0o555)
    try:
        done = subprocess.run(
            [*prefix, str(EXE), "load", "--client", "acme", str(samples / NOV)],
            capture_output=True,
            text=True,
            env={**os.environ, "ORGLOAD_HOME": str(home)},
            timeout=120,
            check=False,
        )
    finally:
        home.chmod(0o755)
    assert "ORGLOAD_HOME" in assert_one_line(Ran(done.returncode, done.stdout, done.stderr), 2)
    assert list(home.iterdir()) == []  # nothing archived, nothing spooled


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "garbage",
        "mysql://u:secret@127.0.0.1/db",
        "postgresql+asyncpg://u@127.0.0.1/db",
        "postgresql+psycopg://u@127.0.0.1:notaport/db",
    ],
)
@pytest.mark.parametrize("command", ["clients list", "load"])
def test_an_unusable_database_url_is_a_configuration_error(
    url: str, command: str, samples: Path
) -> None:
    args = command.split() + (["--client", "acme", str(samples / NOV)] if command == "load" else [])
    ran = orgload(*args, env={"ORGLOAD_DATABASE_URL": url})
    line = assert_one_line(ran, 2)
    assert "ORGLOAD_DATABASE_URL" in line
    assert "secret" not in line  # a password in the URL is never echoed


@pytest.mark.parametrize(
    "instant",
    [
        "9999-12-31T23:59:59+00:00",
        "9999-12-01T00:00:00+00:00",
        "0001-01-01T02:00:00+05:00",
    ],
)
@pytest.mark.parametrize("command", ["validate", "quota"])
def test_an_orgload_now_at_the_end_of_time_is_a_configuration_error(
    instant: str, command: str, samples: Path
) -> None:
    args = ["validate", "--client", "acme", str(samples / NOV)]
    if command == "quota":
        args = ["quota", "--client", "acme"]
    ran = orgload(*args, env={"ORGLOAD_NOW": instant})
    assert "ORGLOAD_NOW" in assert_one_line(ran, 2)


def test_an_orgload_now_inside_the_range_still_works(samples: Path) -> None:
    ran = orgload(
        "validate",
        "--client",
        "acme",
        str(samples / NOV),
        "--json",
        env={"ORGLOAD_NOW": "2999-06-01T12:00:00-04:00"},
    )
    assert ran.code == 0, ran.stderr
    assert json.loads(ran.stdout)["valid"] is True


# --- unreachable databases ------------------------------------------------------------------


def _spooled(home: Path) -> list[dict[str, object]]:
    folder = home / "spool" / "incidents"
    return [json.loads(p.read_text("utf-8")) for p in sorted(folder.glob("INC-*.json"))]


@pytest.mark.parametrize("where", ["unknown_host", "refused"])
def test_an_unreachable_database_fails_the_load_and_spools_a_level_3_incident(
    where: str, samples: Path, orgload_env: Path, unused_port: int
) -> None:
    url = {  # .invalid never resolves (RFC 6761): no traffic leaves the machine
        "unknown_host": "postgresql+psycopg://u@no-such-host.invalid/db",
        "refused": f"postgresql+psycopg://u@127.0.0.1:{unused_port}/db?connect_timeout=5",
    }[where]
    ran = orgload(
        "load", "--client", "acme", str(samples / NOV), "--json", env={"ORGLOAD_DATABASE_URL": url}
    )
    assert ran.code == 4, ran.stderr
    assert "Traceback" not in ran.stdout + ran.stderr
    answer = json.loads(ran.stdout)
    assert answer["status"] == "failed"
    assert answer["incident"]["level"] == 3
    [spooled] = _spooled(orgload_env)
    assert spooled["id"] == answer["incident"]["id"]
    assert (spooled["category"], spooled["failed_step"]) == ("unavailable", "connect")


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://u@no-such-host.invalid/db",
        "postgresql+psycopg://u@127.0.0.1:{port}/db?connect_timeout=5",
        "postgresql+psycopg://u@127.0.0.1:{port}/db?foo=bar",
    ],
)
@pytest.mark.parametrize("command", ["clients list", "db upgrade", "load --dry-run"])
def test_an_unreachable_database_is_one_line_exit_4(
    url: str, command: str, samples: Path, unused_port: int
) -> None:
    args = command.split()
    if args[0] == "load":
        args += ["--client", "acme", str(samples / NOV)]
    ran = orgload(*args, env={"ORGLOAD_DATABASE_URL": url.format(port=unused_port)})
    assert "unreachable" in assert_one_line(ran, 4)


# --- client ids are slugs -------------------------------------------------------------------

NOT_SLUGS = [
    "../../etc",
    "acme/sub",
    "Acme",
    "acme sub",
    "acme\n",
    "ac\nme",
    "acme\t",
    "a" * 41,
    "_acme",
    "ácme",
    "acme\x1b[2J",
    "",
    ".",
    "..",
]


@pytest.fixture
def unreachable(unused_port: int) -> dict[str, str]:
    """A database that refuses connections: a command that reached it would exit 4, so an
    exit 2 proves the id was refused before anything was opened or written."""
    return {"ORGLOAD_DATABASE_URL": f"postgresql+psycopg://u@127.0.0.1:{unused_port}/db"}


@pytest.mark.parametrize("bad", NOT_SLUGS, ids=repr)
def test_clients_add_refuses_an_id_that_is_not_a_slug(
    bad: str, unreachable: dict[str, str]
) -> None:
    ran = orgload("clients", "add", bad, "--name", "X", env=unreachable)
    line = assert_one_line(ran, 2)
    assert "\x1b" not in line


@pytest.mark.parametrize("good", ["acme", "a", "0", "acme-cl_2", "a" * 40])
def test_clients_add_accepts_a_slug(good: str, database_url: str) -> None:
    result = runner.invoke(app, ["clients", "add", good, "--name", "X", "--json"])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["id"] == good


@pytest.mark.parametrize(
    "args",
    [
        ["load", "--client", "{bad}", "{file}"],
        ["load", "--client", "{bad}", "{file}", "--dry-run"],
        ["validate", "--client", "{bad}", "{file}"],
        ["quota", "--client", "{bad}"],
        ["history", "--client", "{bad}"],
        ["export", "--client", "{bad}"],
        ["export", "--client", "{bad}", "--format", "csv"],
        ["incidents", "list", "--client", "{bad}"],
    ],
    ids=lambda a: " ".join(x for x in a if not x.startswith("{")),
)
@pytest.mark.parametrize("bad", ["../../outside", "acme\n"], ids=repr)
def test_every_command_refuses_a_client_id_that_is_not_a_slug(
    args: list[str],
    bad: str,
    samples: Path,
    tmp_path: Path,
    orgload_env: Path,
    unreachable: dict[str, str],
) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    argv = [a.format(bad=bad, file=samples / NOV) for a in args]
    assert_one_line(orgload(*argv, cwd=work, env=unreachable), 2)
    assert list(tmp_path.rglob("outside*")) == []  # no default export path left the folder
    assert not (orgload_env / "archive").exists()  # nothing archived, nothing spooled
    assert not (orgload_env / "spool").exists()


def test_a_clients_add_name_with_control_characters_or_too_long_is_refused(
    database_url: str,
) -> None:
    assert_one_line(orgload("clients", "add", "acme", "--name", "A\nB"), 2)
    assert_one_line(orgload("clients", "add", "acme", "--name", "n" * 201), 2)
    assert_one_line(orgload("clients", "add", "acme", "--name", "A", "--timezone", "x" * 300), 2)


# --- the entry point's safety net -----------------------------------------------------------


def test_an_unexpected_error_is_one_line_and_the_traceback_only_with_verbose(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import cli.app
    import service.clients

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("a defect\nover two lines")

    monkeypatch.setattr(service.clients, "registered_clients", broken)
    for verbose, code in (([], 1), (["-v"], 1)):
        monkeypatch.setattr(sys, "argv", ["orgload", *verbose, "clients", "list"])
        with pytest.raises(SystemExit) as exited:
            cli.app.main()
        assert exited.value.code == code
        stderr = capsys.readouterr().err
        if verbose:
            assert "Traceback" in stderr
        else:
            assert_one_line(Ran(code, "", stderr), code)
    cli.app.State.verbose = False


def test_an_unreachable_database_and_an_unwritable_spool_say_loudly_that_nothing_was_recorded(
    samples: Path, orgload_env: Path, unused_port: int
) -> None:
    """Both stores down (SPEC §5, issue 12): the incident cannot be kept anywhere, so the
    command fails and says so in one line naming the incident — it never claims a record."""
    orgload_env.mkdir(parents=True, exist_ok=True)
    (orgload_env / "spool").write_text("not a folder")  # fails for root too
    url = f"postgresql+psycopg://u@127.0.0.1:{unused_port}/db?connect_timeout=5"
    ran = orgload(
        "load", "--client", "acme", str(samples / NOV), "--json", env={"ORGLOAD_DATABASE_URL": url}
    )
    line = assert_one_line(ran, 4)  # failed, as the load is
    assert ran.stdout == ""  # no JSON answer that would point at an incident kept nowhere
    assert "could not be spooled" in line
    assert "recorded nowhere" in line
    assert "INC-" in line  # the incident's id, for the analyst to find in the logs
    assert (orgload_env / "spool").read_text() == "not a folder"
