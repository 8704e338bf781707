"""Human output of the commands, in Spanish or English (``--json`` prints the SPEC JSON instead).

Everything here renders the ``to_dict()`` of a service result; no command builds a JSON shape.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from cli.common import out, print_json

if TYPE_CHECKING:
    from service.loads import LoadOutcome

ERRORS_SHOWN_PER_SHEET = 20
# What never reaches the terminal as it is: control characters (ESC starts a terminal escape
# sequence, CR rewrites the line, C1's CSI is an ESC of its own), DEL, line and paragraph
# separators, and the invisible and bidi formatting characters (which can make a line read
# other than it is). Each is shown as its code point, e.g. ``<U+001B>``.
_HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]"
)


def visible(text: object) -> str:
    """``text`` with every character that could act on the terminal shown as ``<U+001B>``."""
    return _HIDDEN.sub(lambda found: f"<U+{ord(found.group()):04X}>", str(text))


def safe(text: object) -> str:
    """``text`` ready for ``out.print``: visible (``visible``) and free of rich markup."""
    return escape(visible(text))


WORDS: dict[str, dict[str, str]] = {
    "es": {
        "valid": "VÁLIDO",
        "invalid": "INVÁLIDO",
        "units": "unidades",
        "people": "personas",
        "errors": "errores",
        "warnings": "advertencias",
        "Errors": "Errores",
        "Warnings": "Advertencias",
        "file": "archivo",
        "row": "fila",
        "more": "… y {n} más (use --json o --report para verlos todos)",
        "load": "carga",
        "incident": "incidente {id} (nivel {level}{due})",
        "review_due": ", revisión antes de {due}",
        "changes_head": "  {0:<10} {1:>8} {2:>10} {3:>12} {4:>10}",
        "entity": "entidad",
        "inserted": "nuevas",
        "updated": "cambiadas",
        "deactivated": "desactivadas",
        "unchanged": "iguales",
        "quota_used": "la carga mensual de {period} ya fue aplicada; "
        "el próximo periodo comienza {next}",
        "quota_line": "{period}: {state}; el próximo periodo comienza {next}",
        "used": "usada",
        "available": "disponible",
        "registered": "cliente {id} registrado ({name}, {tz})",
        "reverted": "carga {reverted} revertida (la reversión quedó registrada como carga {load})",
        "no_incidents": "no hay incidentes",
        "escalated": "{id} escalado a nivel 2; revisión antes de {due}",
        "transitioned": "{id} ahora está en {status}",
        "spool": "spool: {before} archivo(s) encontrados, {left} pendientes",
        "watch": "vencidos: {overdue}, por vencer: {soon}, correos enviados: {sent}, "
        "aún en cola: {queued}",
        "wrote": "escrito: {paths}",
        "schema": "esquema de la base de datos en la revisión {rev}",
        "reported": "reportado",
        "due": "plazo",
        "level": "N",
        "status_applied": "aplicada",
        "status_dry_run": "simulación",
        "status_already_applied": "ya aplicada",
        "status_no_changes": "sin cambios",
        "status_rejected": "rechazada",
        "status_quota_exhausted": "cuota agotada",
        "status_failed": "fallida",
        "status_reverted": "revertida",
        "status_crashed": "interrumpida",
    },
    "en": {
        "valid": "VALID",
        "invalid": "INVALID",
        "units": "units",
        "people": "people",
        "errors": "errors",
        "warnings": "warnings",
        "Errors": "Errors",
        "Warnings": "Warnings",
        "file": "file",
        "row": "row",
        "more": "… and {n} more (use --json or --report to see them all)",
        "load": "load",
        "incident": "incident {id} (level {level}{due})",
        "review_due": ", review due {due}",
        "changes_head": "  {0:<10} {1:>8} {2:>10} {3:>12} {4:>10}",
        "entity": "entity",
        "inserted": "inserted",
        "updated": "updated",
        "deactivated": "deactivated",
        "unchanged": "unchanged",
        "quota_used": "the monthly load of {period} was already applied; next period starts {next}",
        "quota_line": "{period}: {state}; next period starts {next}",
        "used": "used",
        "available": "available",
        "registered": "client {id} registered ({name}, {tz})",
        "reverted": "reverted load {reverted} (revert recorded as load {load})",
        "no_incidents": "no incidents",
        "escalated": "{id} escalated to level 2; review due {due}",
        "transitioned": "{id} is now {status}",
        "spool": "spool: {before} file(s) found, {left} left",
        "watch": "overdue: {overdue}, due soon: {soon}, e-mails sent: {sent}, "
        "still queued: {queued}",
        "wrote": "wrote {paths}",
        "schema": "database schema at revision {rev}",
        "reported": "reported",
        "due": "due",
        "level": "L",
    },
}
COLOURS = {"applied": "green", "rejected": "red", "failed": "red", "quota_exhausted": "yellow"}


def word(lang: str, key: str, **params: Any) -> str:
    text = WORDS[lang].get(key) or WORDS["en"].get(key) or key
    return text.format(**params) if params else text


def status_word(lang: str, status: str) -> str:
    """A load status as the admin reads it; English keeps the SPEC's own status names."""
    return WORDS[lang].get(f"status_{status}", status)


def _where(entry: dict[str, Any], lang: str) -> str:
    """``fila 7, Correo: `` — where an entry points, as the admin sees it in Excel."""
    parts = []
    if entry["row"]:
        parts.append(f"{word(lang, 'row')} {entry['row']}")
    # A column the file does not have (``missing_column``) is named by its message, as the
    # template heads it; its canonical name would be one more name to decode.
    if entry["header"] or (entry["column"] and entry["row"]):
        parts.append(entry["header"] or entry["column"])
    return ", ".join(parts) + ": " if parts else ""


def print_report(
    data: dict[str, Any], lang: str, names: list[str], *, summary: bool = True
) -> None:
    """Summary line, then entries grouped by sheet, each group capped with a count of the rest."""
    counts, errors, warnings = data["counts"], data["errors"], data["warnings"]
    if summary:
        verdict = (
            f"[green]{word(lang, 'valid')}[/]"
            if data["valid"]
            else (f"[red]{word(lang, 'invalid')}[/]")
        )
        rows = (
            f"{counts['unidades']} {word(lang, 'units')}, "
            f"{counts['personas']} {word(lang, 'people')}"
        )
        totals = f"{len(errors)} {word(lang, 'errors')}, {len(warnings)} {word(lang, 'warnings')}"
        out.print(f"{verdict} {safe(', '.join(names))}: {rows}; {totals}")
    for title, entries in ((word(lang, "Errors"), errors), (word(lang, "Warnings"), warnings)):
        groups: dict[str, list[dict[str, Any]]] = {}
        for entry in entries:
            groups.setdefault(entry["sheet"] or word(lang, "file"), []).append(entry)
        for sheet, group in groups.items():
            out.print(f"\n[bold]{title} — {safe(sheet)}[/] ({len(group)})")
            for entry in group[:ERRORS_SHOWN_PER_SHEET]:
                text = safe(_where(entry, lang) + entry["message"])
                out.print(f"  {text} [dim]({entry['code']})[/]")
            rest = len(group) - ERRORS_SHOWN_PER_SHEET
            if rest > 0:
                out.print(f"  [dim]{word(lang, 'more', n=rest)}[/]")


def print_load(data: dict[str, Any], lang: str, *, detail: str | None, preview: Any) -> None:
    """A load outcome: status line, why, incident, change counts, a dry run's preview."""
    status = data["status"]
    load_ref = f" ({word(lang, 'load')} {data['load_id']})" if data["load_id"] else ""
    out.print(
        f"[bold {COLOURS.get(status, 'cyan')}]{status_word(lang, status)}[/]{load_ref} — "
        f"{safe(data['client_id'])}, {data['period']}"
    )
    if detail:
        out.print(f"  {safe(detail)}")
    if data["incident"]:
        inc = data["incident"]
        due = word(lang, "review_due", due=inc["review_due_at"]) if inc["review_due_at"] else ""
        out.print("  " + word(lang, "incident", id=inc["id"], level=inc["level"], due=due))
    if data["changes"]:
        heads = ("entity", "inserted", "updated", "deactivated", "unchanged")
        out.print(word(lang, "changes_head").format(*(word(lang, h) for h in heads)))
        for name, c in data["changes"].items():
            out.print(
                word(lang, "changes_head").format(
                    name, c["inserted"], c["updated"], c["deactivated"], c["unchanged"]
                )
            )
    if status == "dry_run" and preview is not None:
        for name, entity in preview.items():
            if entity["inserted"]:
                out.print(f"  + {name}: {safe(', '.join(map(str, entity['inserted'])))} …")
            for change in entity["updated"]:
                fields = "; ".join(f"{f}: {a!r} → {b!r}" for f, (a, b) in change["fields"].items())
                out.print(f"  ~ {name} {safe(str(change['key']))}: {safe(fields)}")
            if entity["deactivated"]:
                out.print(f"  - {name}: {safe(', '.join(map(str, entity['deactivated'])))} …")
    if status == "quota_exhausted":
        q = data["quota"]
        out.print("  " + word(lang, "quota_used", period=q["period"], next=q["next_period_starts"]))
    if data["errors"]:
        print_report(
            {
                "valid": False,
                "counts": {"unidades": "-", "personas": "-"},
                "errors": data["errors"],
                "warnings": data["warnings"],
            },
            lang,
            [],
            summary=False,
        )


def show_load(outcome: LoadOutcome, lang: str, *, as_json: bool) -> None:
    """A load outcome (``load``, ``incidents replay``): the SPEC JSON, or rendered."""
    data = outcome.to_dict(lang)  # type: ignore[arg-type]
    if as_json:
        print_json(data)
    else:
        print_load(data, lang, detail=outcome.detail, preview=outcome.preview())


def print_incident_line(entry: dict[str, Any], lang: str) -> None:
    due = entry["review_due_at"] or "-"
    out.print(
        f"{entry['id']}  {word(lang, 'level')}{entry['level']}  {entry['status']:<10} "
        f"{entry['category']:<12} {safe(entry['client_id'])}  {entry['period'] or '-'}  "
        f"{word(lang, 'load')} {entry['load_id'] or '-'}  "
        f"{word(lang, 'reported')} {entry['reported_at']}  {word(lang, 'due')} {due}"
    )


def print_incident(detail: dict[str, Any], lang: str) -> None:
    print_incident_line(detail, lang)
    diag = detail["diagnostics"]
    for key in ("file_name", "sha256", "archive_path", "failed_step", "flow_run_id"):
        out.print(f"  {key}: {safe(str(diag.get(key)))}")
    if diag.get("exception"):
        out.print(
            f"  exception: {safe(diag['exception'].get('type', ''))}: "
            f"{safe(str(diag['exception'].get('message', '')))}"
        )
    if (diag.get("validation") or {}).get("codes"):
        out.print(f"  validation: {safe(diag['validation']['codes'])}")
    for h in detail["history"]:
        change = f"{h['from_status'] or ''}→{h['to_status'] or ''}" if h["to_status"] else ""
        out.print(
            f"  {h['at']}  {safe(h['by'])}  {h['action']} {change} "
            f"{safe(h['correction'] or '')} {safe(h['comment'] or '')}"
        )
