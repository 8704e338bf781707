"""The words of the web app's pages, in Spanish (the default) and English, and the service
layer's one-line refusals in the page's language (``error_text``)."""

from __future__ import annotations

import re
from typing import Any

from orgload.settings import Lang

WORDS: dict[str, tuple[str, str]] = {
    # key: (es, en)
    "app": ("orgload — carga organizacional", "orgload — organization load"),
    "skip": ("Saltar al contenido", "Skip to content"),
    "lang_other": ("English", "Español"),
    "sign_in": ("Iniciar sesión", "Sign in"),
    "sign_out": ("Cerrar sesión", "Sign out"),
    "email": ("Correo electrónico", "E-mail"),
    "password": ("Contraseña", "Password"),
    "password_again": ("Repite la contraseña", "Password again"),
    "set_password": ("Definir contraseña", "Set password"),
    "set_password_for": ("Define la contraseña de {email}", "Set the password of {email}"),
    "password_rule": (
        "Al menos 12 caracteres. Usa una frase que recuerdes.",
        "At least 12 characters. A phrase you remember works well.",
    ),
    "password_mismatch": ("Las contraseñas no coinciden.", "The passwords do not match."),
    "password_set": (
        "Contraseña definida. Ya puedes iniciar sesión.",
        "Password set. You can sign in now.",
    ),
    "bad_credentials": ("Correo o contraseña incorrectos.", "Wrong e-mail or password."),
    "slow_down": (
        "Demasiados intentos fallidos. Espera hasta las {at} e inténtalo de nuevo.",
        "Too many failed attempts. Wait until {at} and try again.",
    ),
    "locked": (
        "La cuenta está bloqueada por intentos fallidos hasta las {at}.",
        "The account is locked after failed attempts until {at}.",
    ),
    "signed_in_as": ("Sesión de {email}", "Signed in as {email}"),
    "nav_home": ("Inicio", "Home"),
    "nav_upload": ("Subir archivo", "Upload"),
    "nav_history": ("Historial", "History"),
    "nav_incidents": ("Incidentes", "Incidents"),
    "nav_template": ("Plantilla", "Template"),
    "nav_clients": ("Clientes", "Clients"),
    "home_title": ("Carga mensual de {name}", "Monthly load of {name}"),
    "quota": ("Cuota mensual", "Monthly quota"),
    "quota_free": (
        "La carga de {period} está disponible.",
        "The load of {period} is available.",
    ),
    "quota_used": (
        "La carga de {period} ya fue aplicada. La próxima carga es posible desde el {next}.",
        "The load of {period} was applied. The next load is possible from {next}.",
    ),
    "quota_rule": (
        "Regla: se aplica una carga mensual por cliente y mes calendario. Validar y "
        "previsualizar no la usa; una carga rechazada o sin cambios tampoco.",
        "Rule: one monthly load is applied per client and calendar month. Validating and "
        "previewing do not use it; neither does a rejected load or one without changes.",
    ),
    "next_period": ("Próximo período desde", "Next period from"),
    "last_load": ("Última carga", "Last load"),
    "no_loads": ("Aún no hay cargas.", "No loads yet."),
    "open_incidents": ("Incidentes abiertos", "Open incidents"),
    "no_incidents": ("No hay incidentes abiertos.", "No open incidents."),
    "review_due": ("Revisión a más tardar", "Review due"),
    "overdue": ("vencido", "overdue"),
    "template_title": ("Plantilla de carga", "Upload template"),
    "template_help": (
        "Descarga la plantilla, complétala con toda tu organización y súbela.",
        "Download the template, fill in your whole organization and upload it.",
    ),
    "template_es": ("Plantilla en español (.xlsx)", "Template in Spanish (.xlsx)"),
    "template_en": ("Plantilla en inglés (.xlsx)", "Template in English (.xlsx)"),
    "upload_title": ("Subir el archivo del mes", "Upload this month's file"),
    "upload_help": (
        "Un libro .xlsx con las hojas unidades y personas, o unidades.csv y personas.csv "
        "(juntos o en un .zip). Máximo {mb} MB.",
        "One .xlsx workbook with the sheets unidades and personas, or unidades.csv and "
        "personas.csv (together or in a .zip). At most {mb} MB.",
    ),
    "choose_files": ("Archivo(s)", "File(s)"),
    "drop_here": ("o arrastra el archivo aquí", "or drop the file here"),
    "send": ("Validar archivo", "Validate file"),
    "uploading": ("Subiendo…", "Uploading…"),
    "too_large": (
        "El archivo supera el máximo de {mb} MB; no fue guardado.",
        "The file is larger than {mb} MB; it was not stored.",
    ),
    "bad_form": ("El formulario no es válido.", "The form is not valid."),
    "too_many_files": (
        "Demasiados archivos: sube un .xlsx, un .zip o los dos .csv.",
        "Too many files: upload one .xlsx, one .zip or the two .csv files.",
    ),
    "no_file": ("Elige un archivo.", "Choose a file."),
    "csrf": (
        "La sesión del formulario expiró. Vuelve a cargar la página e inténtalo de nuevo.",
        "The form's session expired. Reload the page and try again.",
    ),
    "result_title": ("Resultado de la validación", "Validation result"),
    "file": ("Archivo", "File"),
    "rows_read": ("Filas leídas", "Rows read"),
    "errors_found": (
        "Se encontraron {n} errores. Corrígelos en tu archivo y vuelve a subirlo.",
        "{n} errors were found. Fix them in your file and upload it again.",
    ),
    "error_found": (
        "Se encontró 1 error. Corrígelo en tu archivo y vuelve a subirlo.",
        "1 error was found. Fix it in your file and upload it again.",
    ),
    "not_read": (
        "No se leyó ninguna hoja: el archivo se rechazó entero.",
        "No sheet was read: the file was refused as a whole.",
    ),
    "errors_shown": (
        "Se muestran los primeros {shown} de {n}.",
        "Showing the first {shown} of {n}.",
    ),
    "file_level": ("Archivo", "File"),
    "sheet": ("Hoja", "Sheet"),
    "row": ("Fila", "Row"),
    "header": ("Columna", "Column"),
    "value": ("Valor", "Value"),
    "message": ("Mensaje", "Message"),
    "warnings": ("Advertencias", "Warnings"),
    "download_report": (
        "Descargar el libro con los errores marcados (.xlsx)",
        "Download the workbook with the errors marked (.xlsx)",
    ),
    "valid_file": ("El archivo es válido.", "The file is valid."),
    "to_preview": ("Ver qué cambiará", "See what will change"),
    "preview_title": ("Qué cambiará", "What will change"),
    "entity_unidades": ("Unidades", "Units"),
    "entity_personas": ("Personas", "People"),
    "inserted": ("Nuevas", "New"),
    "updated": ("Modificadas", "Changed"),
    "deactivated": ("Desactivadas", "Deactivated"),
    "unchanged": ("Sin cambios", "Unchanged"),
    "key": ("Clave", "Key"),
    "changes": ("Cambios (antes → después)", "Changes (before → after)"),
    "page": ("Página {page} de {pages}", "Page {page} of {pages}"),
    "no_changes_of_kind": (
        "Esta carga no tiene cambios de este tipo ({entity}: {kind}). Mira las otras pestañas.",
        "This load has no changes of this kind ({entity}: {kind}). See the other tabs.",
    ),
    "prev": ("Anterior", "Previous"),
    "next": ("Siguiente", "Next"),
    "nothing_to_apply": (
        "El archivo es igual a los datos actuales: no hay nada que aplicar.",
        "The file equals the current data: there is nothing to apply.",
    ),
    "mass_title": ("Cambio masivo", "Mass change"),
    "mass_help": (
        "Esta carga desactivaría o vaciaría más de lo permitido (el mayor entre el 20 % de "
        "las filas activas y 10, por entidad o columna). Revisa que el archivo tenga toda tu "
        "organización. Si el cambio es correcto, envíalo: quedará rechazado con un incidente y "
        "soporte podrá autorizarlo.",
        "This load would deactivate or blank more than allowed (the larger of 20% of the "
        "active rows and 10, per entity or column). Check that the file holds your whole "
        "organization. If the change is right, send it: it is rejected with an incident and "
        "support can authorize it.",
    ),
    "confirm_title": ("Confirmar la carga", "Confirm the load"),
    "confirm": ("Confirmar y aplicar", "Confirm and apply"),
    "confirm_anyway": ("Enviar de todos modos", "Send anyway"),
    "quota_will_refuse": (
        "La cuota de este mes ya se usó: la carga será rechazada por la cuota, salvo que "
        "soporte la autorice como corrección.",
        "This month's quota is used: the load will be refused by the quota unless support "
        "authorizes it as a correction.",
    ),
    "confirm_uses_quota": (
        "Al confirmar se aplica la carga de {period} y se usa la cuota del mes.",
        "Confirming applies the load of {period} and uses the month's quota.",
    ),
    "quota_refused": (
        "La cuota de este mes ya se usó: la carga no se aplicó. La próxima carga es posible "
        "desde el {next}; si es una corrección urgente, soporte puede aplicarla.",
        "This month's quota is used: the load was not applied. The next load is possible from "
        "{next}; for an urgent correction, support can apply it.",
    ),
    "mass_rejected": (
        "La carga fue rechazada por ser un cambio masivo. Soporte revisará el incidente y, si "
        "corresponde, la autorizará; verás el resultado en el historial.",
        "The load was rejected as a mass change. Support reviews the incident and, where "
        "right, authorizes it; the result shows in the history.",
    ),
    "confirm_applies_now": (
        "La carga se aplica apenas confirmes.",
        "The load is applied as soon as you confirm.",
    ),
    "confirm_applies_off_peak": (
        "Tu empresa aplica las cargas fuera del horario de alta concurrencia: al confirmar, la "
        "carga queda en cola y se aplica desde las {time} (hora de Chile) del {date}.",
        "Your company applies loads outside the busy hours: once you confirm, the load is "
        "queued and applied from {time} (Chile time) on {date}.",
    ),
    "off_peak_client": ("aplica de 22:00 a 05:59", "applies 22:00–05:59"),
    "confirm_queue": ("Confirmar y dejar en cola", "Confirm and queue"),
    "status_waiting": (
        "En cola: se aplica desde las {time} (hora de Chile) del {date}, en el horario de baja "
        "demanda (22:00–05:59).",
        "Queued: it is applied from {time} (Chile time) on {date}, in the off-peak window "
        "(22:00–05:59).",
    ),
    "status_title": ("Estado de la carga", "Load status"),
    "status_queued": ("En cola: se aplicará en un momento.", "Queued: it is applied shortly."),
    "status_applying": ("Aplicando…", "Applying…"),
    "status_done": ("Terminada", "Finished"),
    "refreshing": (
        "Esta página se actualiza sola hasta que termine.",
        "This page refreshes itself until it ends.",
    ),
    "result": ("Resultado", "Result"),
    "load_status_applied": ("Aplicada", "Applied"),
    "load_status_rejected": ("Rechazada", "Rejected"),
    "load_status_quota_exhausted": ("Rechazada por la cuota", "Refused by the quota"),
    "load_status_no_changes": ("Sin cambios", "No changes"),
    "load_status_already_applied": ("Ya aplicada", "Already applied"),
    "load_status_failed": ("Falló", "Failed"),
    "load_status_crashed": ("Interrumpida", "Crashed"),
    "load_status_reverted": ("Revertida", "Reverted"),
    "load_status_running": ("En curso", "Running"),
    "load_status_dry_run": ("Simulación", "Dry run"),
    "history_title": ("Historial de cargas", "Load history"),
    "date": ("Fecha", "Date"),
    "period": ("Período", "Period"),
    "status": ("Estado", "Status"),
    "downloads": ("Descargas", "Downloads"),
    "archived_file": ("archivo", "file"),
    "report": ("informe", "report"),
    "reason": ("Motivo", "Reason"),
    "load": ("Carga", "Load"),
    "incidents_title": ("Incidentes", "Incidents"),
    "incident": ("Incidente", "Incident"),
    "category": ("Categoría", "Category"),
    "level": ("Nivel", "Level"),
    "reported_at": ("Reportado", "Reported"),
    "history": ("Historial", "History"),
    "by": ("Por", "By"),
    "approve": ("Aprobar la corrección y cerrar", "Approve the correction and close"),
    "approve_help": (
        "Soporte resolvió este incidente. Si la corrección está bien, apruébala para cerrarlo.",
        "Support resolved this incident. If the correction is right, approve it to close it.",
    ),
    "not_found": ("No encontrado.", "Not found."),
    "not_found_help": (
        "La página no existe o no tienes acceso a ella.",
        "The page does not exist or you have no access to it.",
    ),
    "refused": ("No se pudo hacer", "Could not be done"),
    "back_home": ("Volver al inicio", "Back home"),
    "staff_clients": ("Clientes", "Clients"),
    "client": ("Cliente", "Client"),
    "quota_state": ("Cuota del mes", "Quota this month"),
    "used": ("usada", "used"),
    "free": ("disponible", "available"),
    "staff_incidents": ("Incidentes y plazos", "Incidents and deadlines"),
    "filter": ("Filtrar", "Filter"),
    "any": ("(todos)", "(any)"),
    "only_overdue": ("Solo vencidos", "Overdue only"),
    "diagnostics": ("Diagnóstico", "Diagnostics"),
    "transition": ("Cambiar estado", "Change status"),
    "to_status": ("Nuevo estado", "New status"),
    "correction": ("Tipo de corrección", "Correction type"),
    "comment": ("Comentario", "Comment"),
    "escalate": ("Escalar a nivel 2", "Escalate to level 2"),
    "authorize_mass": ("Autorizar el cambio masivo", "Authorize the mass change"),
    "authorize_mass_help": (
        "Aplica esta carga sin la guardia de cambios masivos. Se registra tu usuario y el motivo.",
        "Applies this load without the mass-change guard. Your user and the reason are recorded.",
    ),
    "override_quota": (
        "Aplicar como corrección (fuera de cuota)",
        "Apply as a correction (override quota)",
    ),
    "override_help": (
        "Aplica esta carga aunque la cuota del mes esté usada. Se registra tu usuario y el motivo.",
        "Applies this load although the month's quota is used. Your user and the reason are "
        "recorded.",
    ),
    "revert": ("Revertir esta carga", "Revert this load"),
    "revert_help": (
        "Deshace la última carga aplicada del cliente (no usa la cuota).",
        "Undoes the client's latest applied load (does not use the quota).",
    ),
    "reverted": ("Carga revertida: {id}.", "Load reverted: {id}."),
    "loads": ("Cargas", "Loads"),
    "prefect_run": ("Ejecución en Prefect", "Prefect flow run"),
    "users": ("Usuarios", "Users"),
    "open": ("abrir", "open"),
    "counts": ("Cambios", "Changes"),
    "istatus_reported": ("reportado", "reported"),
    "istatus_in_review": ("en revisión", "in review"),
    "istatus_resolved": ("resuelto", "resolved"),
    "istatus_closed": ("cerrado", "closed"),
    "category_validation": ("validación", "validation"),
    "category_mass_change": ("cambio masivo", "mass change"),
    "category_apply_error": ("error al aplicar", "apply error"),
    "category_crash": ("interrupción", "crash"),
    "category_unavailable": ("no disponible", "unavailable"),
    "correction_recommendation": ("recomendación", "recommendation"),
    "correction_configuration": ("configuración", "configuration"),
    "correction_data": ("datos", "data"),
    "correction_database": ("base de datos", "database"),
    "correction_application": ("aplicación", "application"),
    "chile_time": ("Horas en hora de Chile.", "Times in Chile time."),
    "data_docs_help": (
        "calidad de los datos vigentes, del último chequeo programado",
        "quality of the live data, from the last scheduled check",
    ),
    "technical_detail": ("Detalle técnico", "Technical detail"),
    "link_invalid": (
        "Este enlace ya no es válido; pide a soporte uno nuevo.",
        "This link is not valid any more; ask support for a new one.",
    ),
    "yes": ("sí", "yes"),
    "no": ("no", "no"),
}


def word(lang: Lang, key: str, **values: Any) -> str:
    """The text of ``key`` in ``lang`` with ``values`` filled in (the key itself if unknown)."""
    pair = WORDS.get(key)
    if pair is None:
        return key
    text = pair[0] if lang == "es" else pair[1]
    return text.format(**values) if values else text


# --- refusals of the service layer ------------------------------------------------------------
#
# The service words its refusals once, in English, for the CLI and the flows. A page shows them
# in its own language: by the error's stable code where the service gives one, else by the
# shape of the message (services below the web app's own, e.g. the support desk's incident
# transitions and the pipeline's revert), else one sentence for the kind of error. Named
# groups fill the text; ``status``-like groups are translated with the page's status words.

ERROR_CODES: dict[str, tuple[str, str]] = {
    "no_file": WORDS["no_file"],
    "upload_has_errors": (
        "Este archivo tiene errores: corrígelo y vuelve a subirlo.",
        "This file has errors: fix it and upload it again.",
    ),
    "upload_not_waiting": (
        "Esta carga ya fue confirmada (o no está lista para confirmarse): su estado está en "
        "la página de estado y en el historial.",
        "This load was confirmed already (or is not ready to be confirmed): see its status "
        "page and the history.",
    ),
    "reason_required": ("Indica un motivo.", "Give a reason."),
    "authorize_what": (
        "Elige qué autorizar: el cambio masivo o la carga fuera de cuota.",
        "Choose what to authorize: the mass change or the load over the quota.",
    ),
    "not_mass_change": (
        "Esta carga no fue rechazada por un cambio masivo: no hay nada que autorizar.",
        "This load was not rejected as a mass change: there is nothing to authorize.",
    ),
    "not_quota_refused": (
        "Esta carga no fue rechazada por la cuota: no hay nada que autorizar.",
        "This load was not refused by the quota: there is nothing to authorize.",
    ),
    "incident_not_resolved": (
        "Este incidente aún no está resuelto: no hay una corrección que aprobar.",
        "This incident is not resolved yet: there is no correction to approve.",
    ),
    "link_invalid": WORDS["link_invalid"],
    "invalid_email": ("El correo electrónico no es válido.", "The e-mail address is not valid."),
    "password_length": WORDS["password_rule"],
    "user_exists": ("Ya existe un usuario con ese correo.", "A user with that e-mail exists."),
    "client_exists": ("Ese cliente ya existe.", "That client exists already."),
}

ERROR_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (
        re.compile(
            r"incident (?P<id>\S+) cannot go from (?P<status>\w+) to (?P<to>\w+): the next "
            r"status is (?P<next>\w+)"
        ),
        (
            "El incidente {id} no puede pasar de «{status}» a «{to}»: el siguiente estado es "
            "«{next}».",
            "Incident {id} cannot go from “{status}” to “{to}”: the next status is “{next}”.",
        ),
    ),
    (
        re.compile(
            r"incident (?P<id>\S+) cannot go from (?P<status>\w+) to (?P<to>\w+): it is closed"
        ),
        (
            "El incidente {id} está cerrado: su estado ya no cambia.",
            "Incident {id} is closed: its status does not change any more.",
        ),
    ),
    (
        re.compile(r"resolving needs --correction"),
        (
            "Para resolver el incidente, elige el tipo de corrección.",
            "To resolve the incident, choose the correction type.",
        ),
    ),
    (
        re.compile(r"--correction goes only with --to resolved"),
        (
            "El tipo de corrección se indica solo al resolver el incidente.",
            "The correction type goes only with resolving the incident.",
        ),
    ),
    (
        re.compile(r"unknown status "),
        ("Elige un estado válido.", "Choose a valid status."),
    ),
    (
        re.compile(r"incident (?P<id>\S+) is level (?P<level>\d); only level 1 can be escalated"),
        (
            "El incidente {id} ya es de nivel {level}: solo un incidente de nivel 1 se escala.",
            "Incident {id} is level {level} already: only a level-1 incident is escalated.",
        ),
    ),
    (
        re.compile(r"incident (?P<id>\S+) is (?P<status>\w+); it cannot be escalated"),
        (
            "El incidente {id} está «{status}»: ya no se puede escalar.",
            "Incident {id} is “{status}”: it cannot be escalated any more.",
        ),
    ),
    (
        re.compile(r"--reason must not be empty|a reason is required"),
        ERROR_CODES["reason_required"],
    ),
    (
        re.compile(r"load (?P<id>\d+) cannot be reverted: its status is \w+ \(already reverted\)"),
        ("La carga {id} ya fue revertida.", "Load {id} was reverted already."),
    ),
    (
        re.compile(r"load (?P<id>\d+) cannot be reverted: its status is (?P<load_status>\w+)"),
        (
            "La carga {id} no se puede revertir: su estado es «{load_status}»; solo se revierte "
            "una carga aplicada.",
            "Load {id} cannot be reverted: its status is “{load_status}”; only an applied load "
            "is reverted.",
        ),
    ),
    (
        re.compile(
            r"load (?P<id>\d+) is not the latest applied load of client \S+ \(that is load "
            r"(?P<latest>\S+)\)"
        ),
        (
            "La carga {id} no es la última aplicada del cliente (esa es la carga {latest}): "
            "solo se revierte la última.",
            "Load {id} is not the client's latest applied load (that is load {latest}): only "
            "the latest is reverted.",
        ),
    ),
    (
        re.compile(r"load (?P<id>\d+) is not a load of client"),
        WORDS["not_found_help"],
    ),
]

ERROR_KINDS: dict[str, tuple[str, str]] = {
    "usage": ("La solicitud no es válida.", "The request is not valid."),
    "refused": (
        "No se puede hacer en el estado actual.",
        "This cannot be done in the current state.",
    ),
    "illegal_transition": (
        "Ese cambio de estado no está permitido.",
        "That change of status is not allowed.",
    ),
    "unavailable": (
        "La base de datos no está disponible en este momento. Inténtalo de nuevo en unos "
        "minutos; nada fue modificado.",
        "The database is not available right now. Try again in a few minutes; nothing was changed.",
    ),
    "configuration": (
        "La aplicación está mal configurada; avisa a soporte.",
        "The application is misconfigured; tell support.",
    ),
}
ERROR_OTHER = (
    "No se pudo hacer; avisa a soporte si se repite.",
    "It could not be done; tell support if it happens again.",
)


def _status_word(lang: Lang, group: str, value: str) -> str:
    prefix = "load_status_" if group == "load_status" else "istatus_"
    return word(lang, prefix + value) if prefix + value in WORDS else value


def error_text(lang: Lang, code: str, message: str) -> tuple[str, bool]:
    """A service refusal in ``lang``: (text, whether it says exactly what the service said;
    False when only the kind of error could be named)."""
    if code in ERROR_CODES:
        pair = ERROR_CODES[code]
        return (pair[0] if lang == "es" else pair[1]), True
    for pattern, pair in ERROR_PATTERNS:
        found = pattern.search(message)
        if found is None:
            continue
        values = {
            name: _status_word(lang, name, value)
            if name in ("status", "to", "next", "load_status")
            else value
            for name, value in found.groupdict().items()
        }
        text = pair[0] if lang == "es" else pair[1]
        return text.format(**values), True
    pair = ERROR_KINDS.get(code, ERROR_OTHER)
    return (pair[0] if lang == "es" else pair[1]), False
