"""Uploads through the web app: the size limit held while streaming (a 60 MB body refused
without reading it), hostile files and names answered with a report (never a 500), only
files within the limits archived, under their SHA-256."""

from __future__ import annotations

import socket
import time
import zipfile
from pathlib import Path

import pytest

from tests.builders import valid_rows, write_xlsx, write_zip
from tests.web.helpers import ADMIN_A, Site, csrf_of, serve, sign_in, upload

MB = 1_000_000


@pytest.fixture
def small_limit(site: Site) -> Site:
    """The site with a 50 MB upload limit: the 60 MB bodies below are over it."""
    return Site(site.settings.model_copy(update={"max_file_mb": 50}), site.engine)


def _signed_in_cookie_and_token(server_url: str) -> tuple[str, str]:
    import httpx

    with httpx.Client(base_url=server_url) as client:
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={
                "email": ADMIN_A,
                "password": "correct horse battery staple",
                "csrf": csrf_of(page.text),
            },
        )
        assert answer.status_code == 303
        home = client.get("/upload")
        return client.cookies["orgload_session"], csrf_of(home.text)


def _head(port: int, cookie: str, extra: str) -> bytes:
    return (
        f"POST /upload HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Cookie: orgload_session={cookie}\r\n"
        f"Content-Type: multipart/form-data; boundary=XyZ\r\n{extra}\r\n"
    ).encode()


def _send_until_answered(sock: socket.socket, total: int) -> tuple[int, bytes]:
    """Send zeros until the server answers (or closes); returns (bytes sent, answer)."""
    sock.setblocking(False)
    chunk = b"\0" * 65536
    sent, answer = 0, b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            answer += sock.recv(65536)
            if answer:
                break
        except BlockingIOError:
            pass
        except (ConnectionResetError, BrokenPipeError):
            break
        if sent < total:
            try:
                sent += sock.send(chunk[: min(len(chunk), total - sent)])
            except BlockingIOError:
                time.sleep(0.001)
            except (ConnectionResetError, BrokenPipeError):
                break
        else:
            time.sleep(0.01)
    return sent, answer


def test_a_60_mb_body_with_its_length_is_refused_before_it_is_read(small_limit: Site) -> None:
    with serve(small_limit) as server:
        cookie, _csrf = _signed_in_cookie_and_token(server.url)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(_head(server.port, cookie, f"Content-Length: {60 * MB}\r\n"))
            sent, answer = _send_until_answered(sock, 60 * MB)
    assert answer.startswith(b"HTTP/1.1 413")
    assert sent < 10 * MB  # answered on the headers: the body was never read
    assert not list((small_limit.settings.home / "archive").glob("*/*"))


def test_a_60_mb_chunked_body_is_cut_off_at_the_limit(small_limit: Site) -> None:
    with serve(small_limit) as server:
        cookie, csrf = _signed_in_cookie_and_token(server.url)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(_head(server.port, cookie, "Transfer-Encoding: chunked\r\n"))
            prefix = (
                f'--XyZ\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{csrf}\r\n'
                '--XyZ\r\nContent-Disposition: form-data; name="files"; filename="big.xlsx"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            sock.sendall(f"{len(prefix):x}\r\n".encode() + prefix + b"\r\n")
            # one chunk announcing 60 MB of file data, sent until the server answers
            sock.sendall(f"{60 * MB:x}\r\n".encode())
            sent, answer = _send_until_answered(sock, 60 * MB)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 58 * MB  # stopped at the 50 MB limit (plus what the socket buffers held)
    assert not list((small_limit.settings.home / "archive").glob("*/*"))
    assert not any((small_limit.settings.home / "scratch").glob("*/*"))  # scratch removed


def _hostile(tmp: Path) -> dict[str, tuple[str, bytes, str]]:
    """name → (file name sent, bytes, the code the report must give)."""
    bomb = tmp / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("personas.csv", b"0" * (50 * MB))  # ~50 KB that inflate 1000x
    rows = valid_rows()
    rows["Personas"][1][1] = '=HYPERLINK("http://evil.example","x")'
    formula = write_xlsx(tmp / "formula.xlsx", rows)
    fuzz = Path(__file__).resolve().parent.parent / "cases" / "fuzz"
    return {
        "zip bomb": ("bomb.zip", bomb.read_bytes(), "file_too_large"),
        "binary junk": ("datos.xlsx", bytes(range(256)) * 400, "unreadable_file"),
        "a pdf": ("informe.xlsx", b"%PDF-1.7\n" + b"x" * 4000, "unreadable_file"),
        "far cell": (
            "far.xlsx",
            (fuzz / "one-cell-at-XFD200000.xlsx").read_bytes(),
            "file_too_large",
        ),
        "bad shared strings": (
            "ss.xlsx",
            (fuzz / "shared-string-index-out-of-range.xlsx").read_bytes(),
            "unreadable_file",
        ),
        "control characters in names": (
            "names.zip",
            (fuzz / "control-characters-in-names.zip").read_bytes(),
            "unreadable_file",
        ),
        "a name that climbs out": (
            "../../../../etc/passwd.xlsx",
            write_zip(tmp / "z.zip", {"x.txt": b"hello"}).read_bytes(),
            "unreadable_file",
        ),
        "a formula cell": ("<script>alert(1)</script>.xlsx", formula.read_bytes(), ""),
    }


@pytest.mark.parametrize(
    "case",
    [
        "zip bomb",
        "binary junk",
        "a pdf",
        "far cell",
        "bad shared strings",
        "control characters in names",
        "a name that climbs out",
        "a formula cell",
    ],
)
def test_a_hostile_upload_gets_a_report_page_never_a_failure(
    site: Site, tmp_path: Path, case: str
) -> None:
    name, data, code = _hostile(tmp_path)[case]
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        answer = client.post(
            "/upload", data={"csrf": csrf}, files=[("files", (name, data))], follow_redirects=True
        )
        assert answer.status_code == 200, answer.text[:500]
        if code:
            assert f"({code})" in answer.text
        # refused as a whole (a file-level refusal): said so, rather than "0 rows read"
        refused_whole = code in ("file_too_large", "unreadable_file") and (
            "Hoja: Archivo (" in answer.text
        )
        if case in ("zip bomb", "binary junk", "a pdf"):
            assert refused_whole
        if case == "a formula cell":
            assert not refused_whole
        assert ('id="not-read"' in answer.text) is refused_whole
        assert ("Filas leídas" in answer.text) is not refused_whole
        if answer.text.count("<tr><td>") == 1:
            assert "Se encontró 1 error." in answer.text
        assert "<script>alert" not in answer.text  # names are escaped, never markup
    home = site.settings.home
    stored = [p for p in (home / "archive").rglob("*") if p.is_file()]
    for path in stored:  # archived only under the digest, with a name we made
        assert path.parent.name == path.parent.parent.name + path.parent.name[2:]
        assert "/" not in path.name
        assert ".." not in path.name
        assert "<" not in path.name
    if code == "file_too_large":
        assert not stored  # refused by the limits: not stored
    assert not list(Path("/etc").glob("passwd.xlsx"))


def test_a_csv_pair_uploads_as_one(site: Site, samples: Path) -> None:
    csvs = samples / "csv"
    with site.client() as client:
        csrf = sign_in(client, ADMIN_A)
        made = upload(client, csrf, csvs / "unidades.csv", csvs / "personas.csv")
        page = client.get(made.headers["location"], follow_redirects=True)
        assert page.status_code == 200
        assert "Qué cambiará" in page.text or "El archivo es válido" in page.text
