"""The validate use case: a file refused by the limits is answered before pandas is imported."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path


def test_a_zip_bomb_is_refused_without_importing_pandas(tmp_path: Path) -> None:
    bomb = tmp_path / "bomba.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<row/>" * 5_000_000)  # 30 MB, ~30 KB
    probe = (
        "import sys; from pathlib import Path; from orgload.settings import load_settings; "
        "from service.validation import validate_files; "
        f"result = validate_files(load_settings(), [Path({str(bomb)!r})]); "
        "print([e.code for e in result.report.errors], 'pandas' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "['file_too_large'] False"
