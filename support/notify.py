"""E-mail notifications of incidents (SPEC §5): queued in the database, sent by SMTP, retried.

Level 1 goes to the client's admin address with the error report attached; level ≥ 2 to the
support address. A notification is a row first and an e-mail second: a refused or failed send
leaves it ``pending`` with the error, and the next ``send_pending`` (any later load, the SLA
watch, ``orgload incidents notify``) tries again. Each message carries a Message-ID derived from
the notification, so a rare resend after a crash is recognisable as the same message.

Personal data (SPEC §9): an e-mail to support (level ≥ 2) has every RUT and e-mail address in
its subject, body and attachment masked, as queued and again as sent. A level-1 e-mail goes to
the client's own admin and carries their own data unmasked (the error report attached).
"""

from __future__ import annotations

import json
import logging
import smtplib
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from orgload.clock import in_chile
from orgload.db import notifications, reading
from orgload.masking import mask_error_text, mask_issue
from orgload.settings import Settings

log = logging.getLogger(__name__)

DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
CATEGORY_TEXT = {
    "validation": "el archivo de carga tiene errores",
    "mass_change": "la carga desactivaría o dejaría en blanco demasiados registros",
    "apply_error": "la carga falló al aplicarse en la base de datos",
    "crash": "la ejecución de la carga se interrumpió",
    "unavailable": "la base de datos o el almacenamiento no estaban disponibles",
}
LEVEL_TEXT = {
    1: "Nivel 1 — Soporte Inicial (usuarios del cliente)",
    2: "Nivel 2 — Soporte Experiencia Cliente",
    3: "Nivel 3 — Soporte Técnico",
}


def chile_time(instant: datetime) -> str:
    """``miércoles 09-12-2026 14:00 (hora de Chile)``."""
    local = in_chile(instant)
    return f"{DAYS[local.weekday()]} {local:%d-%m-%Y %H:%M} (hora de Chile)"


def compose(incident: dict[str, Any], kind: str) -> tuple[str, str]:
    """Subject and Spanish body of an incident e-mail."""
    diag = incident["diagnostics"]
    what = CATEGORY_TEXT[incident["category"]]
    prefix = {"escalated": "Escalado", "overdue": "Plazo vencido", "repeated": "Repetido"}.get(
        kind, "Incidente"
    )
    subject = (
        f"[orgload] {prefix} {incident['id']} (nivel {incident['level']}): {what} — "
        f"cliente {incident['client_id']}, periodo {incident['period'] or '-'}"
    )
    lines = [
        f"Incidente {incident['id']}: {what}.",
        "",
        f"{LEVEL_TEXT[incident['level']]}",
        f"Cliente: {incident['client_id']}    Periodo: {incident['period'] or '-'}",
        f"Reportado: {chile_time(incident['reported_at'])}",
    ]
    if incident.get("review_due_at"):
        lines.append(f"Revisión a más tardar: {chile_time(incident['review_due_at'])}")
    lines += [
        f"Carga: {diag.get('load_id') or '-'}    Archivo: {diag.get('file_name') or '-'}",
        f"Paso fallido: {diag.get('failed_step') or '-'}",
    ]
    if diag.get("exception"):
        exc = diag["exception"]
        lines.append(f"Error: {exc.get('type')}: {exc.get('message')}")
    validation = diag.get("validation") or {}
    if validation.get("codes"):
        codes = ", ".join(f"{code} × {n}" for code, n in sorted(validation["codes"].items()))
        lines.append(f"Problemas encontrados: {codes}")
    if incident["level"] == 1:
        lines += [
            "",
            "Se adjunta el informe de errores (JSON). Corrija el archivo y vuelva a subirlo; si",
            "cree que el problema no está en el archivo, responda a este correo para escalarlo.",
        ]
    else:
        lines += ["", f"Replicar: orgload incidents replay {incident['id']}"]
    return subject, "\n".join(lines) + "\n"


def queue_notification(
    conn: Connection,
    incident: dict[str, Any],
    kind: str,
    settings: Settings,
    now: datetime,
    admin_email: str | None,
    attachment: str | None = None,
) -> int | None:
    """Queue the e-mail of an incident event; None when there is nobody to send it to."""
    recipient = admin_email if incident["level"] == 1 else settings.support_email
    if not recipient:
        log.info(
            "incident %s: no recipient for a level %s e-mail", incident["id"], incident["level"]
        )
        return None
    subject, body = compose(incident, kind)
    if incident["level"] >= 2:
        subject, body = mask_error_text(subject), mask_error_text(body)
        attachment = mask_attachment(attachment)
    result = conn.execute(
        insert(notifications)
        .values(
            incident_id=incident["id"],
            kind=kind,
            recipient=recipient,
            subject=subject,
            body=body,
            attachment_name=f"{incident['id']}-errores.json" if attachment else None,
            attachment=attachment,
            status="pending",
            attempts=0,
            created_at=now,
        )
        .returning(notifications.c.id)
    )
    return int(result.scalar_one())


def mask_attachment(attachment: str | None) -> str | None:
    """An error report (JSON with ``errors``/``warnings`` entries) with each entry masked by
    column; any other text with its RUTs and e-mail addresses masked."""
    if not attachment:
        return attachment
    try:
        report = json.loads(attachment)
    except ValueError:
        return mask_error_text(attachment)
    if isinstance(report, dict):
        for key in ("errors", "warnings"):
            if isinstance(report.get(key), list):
                report[key] = [mask_issue(e) if isinstance(e, dict) else e for e in report[key]]
    return mask_error_text(json.dumps(report, ensure_ascii=False))


def _message(row: dict[str, Any], settings: Settings) -> EmailMessage:
    subject, body, attachment = row["subject"], row["body"], row["attachment"]
    if row["recipient"] == settings.support_email:  # also a row queued before masking existed
        subject, body = mask_error_text(subject), mask_error_text(body)
        attachment = mask_attachment(attachment)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row["recipient"]
    message["Subject"] = subject
    message["Date"] = format_datetime(row["created_at"])
    message["Message-ID"] = f"<notification-{row['id']}.{row['incident_id']}@orgload>"
    message.set_content(body)
    if attachment:
        message.add_attachment(
            attachment.encode("utf-8"),
            maintype="application",
            subtype="json",
            filename=row["attachment_name"],
        )
    return message


def send_message(message: EmailMessage, settings: Settings) -> None:
    """Send one message through the configured SMTP server (STARTTLS and login when set);
    raises ``OSError`` or ``smtplib.SMTPException`` when it cannot."""
    if not settings.smtp_host:
        raise ConnectionError("SMTP is not configured (ORGLOAD_SMTP_HOST)")
    with smtplib.SMTP(
        settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout
    ) as smtp:
        if settings.smtp_starttls:
            smtp.starttls()
        if settings.smtp_username and settings.smtp_password:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
        smtp.send_message(message)


def send_quietly(engine: Engine, settings: Settings, now: datetime, incident_id: str) -> None:
    """Send an incident's e-mails now if possible; whatever fails stays queued for a retry."""
    try:
        send_pending(engine, settings, now, incident_id)
    except Exception as exc:  # noqa: BLE001 - a notification problem never fails the caller
        log.warning("notifications of %s stay queued: %s", incident_id, exc)


def send_pending(
    engine: Engine, settings: Settings, now: datetime, incident_id: str | None = None
) -> dict[str, int]:
    """Try every pending notification (or those of one incident); returns sent/failed counts."""
    query = (
        select(notifications)
        .where(notifications.c.status == "pending")
        .order_by(notifications.c.id)
    )
    if incident_id is not None:
        query = query.where(notifications.c.incident_id == incident_id)
    with reading(engine) as conn:
        pending = [dict(r) for r in conn.execute(query).mappings()]
    if not settings.smtp_host:  # nothing to try: e-mails wait until SMTP is configured
        return {"sent": 0, "failed": len(pending)}
    sent = failed = 0
    for row in pending:
        try:
            send_message(_message(row, settings), settings)
        except (OSError, smtplib.SMTPException) as exc:
            failed += 1
            with engine.begin() as conn:
                conn.execute(
                    update(notifications)
                    .where(notifications.c.id == row["id"])
                    .values(
                        attempts=row["attempts"] + 1,
                        last_error=f"{type(exc).__name__}: {exc}"[:1000],
                    )
                )
            log.warning("notification %s not sent (will retry): %s", row["id"], exc)
            continue
        sent += 1
        with engine.begin() as conn:
            conn.execute(
                update(notifications)
                .where(notifications.c.id == row["id"], notifications.c.status == "pending")
                .values(status="sent", sent_at=now, attempts=row["attempts"] + 1, last_error=None)
            )
    return {"sent": sent, "failed": failed}
