"""Service commands: serve, worker, beat, keys, senders, deadletters, rescan."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

from integrity.cli.common import (
    EXIT_CODES_HELP,
    EXIT_FOUND,
    JSON_OPTION,
    cli_settings,
    emit_json,
    fail,
    open_database,
    require_models_dir,
    stdout_console,
)

if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.orm import Session

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_WORKER_CONCURRENCY = 2
LETTER_IDS_ARGUMENT = typer.Argument(..., help="Dead letter ids.")
DPID_OPTION = typer.Option(
    [], "--dpid", help="A DDEX Party ID the sender sends as (repeatable; add more later)."
)

SERVICE_HELP = f"Needs the database at INTEGRITY_DATABASE_URL, migrated. {EXIT_CODES_HELP}"

keys_app = typer.Typer(
    help="API keys (stored hashed; a new key is printed once).",
    no_args_is_help=True,
    epilog=SERVICE_HELP,
)
senders_app = typer.Typer(
    help="Webhook senders and their signing secrets.", no_args_is_help=True, epilog=SERVICE_HELP
)
deadletters_app = typer.Typer(
    help="Tasks that gave up: list and replay.", no_args_is_help=True, epilog=SERVICE_HELP
)
rescan_app = typer.Typer(
    help="Re-score tracks after a model or policy change.",
    no_args_is_help=True,
    epilog=SERVICE_HELP,
)


@contextmanager
def _session() -> Iterator[Session]:
    """One committed transaction on the configured database, with service errors as exit 2."""
    from integrity.cli.common import database_errors
    from integrity.db.session import session_factory, session_scope
    from integrity.service.errors import ServiceError

    settings = cli_settings()
    engine = open_database(settings)
    try:
        with database_errors(settings), session_scope(session_factory(engine)) as session:
            yield session
    except ServiceError as exc:
        fail(f"{exc.field}: {exc.message}")
    finally:
        engine.dispose()


def check_port_free(host: str, port: int) -> None:
    """Refuse a port another process listens on, before the app starts (uvicorn would log a
    traceback-like error and exit 1 after loading everything)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                fail(f"--port {port}: {host}:{port} is in use by another process")
            fail(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})")


def serve(
    host: str = typer.Option(DEFAULT_HOST, help="Interface to listen on."),
    port: int = typer.Option(DEFAULT_PORT, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Uvicorn worker processes."),
) -> None:
    """Run the HTTP API (FastAPI on uvicorn, with the header, body and keep-alive limits of the
    INTEGRITY_API_* settings)."""
    settings = cli_settings()
    require_models_dir(settings)
    open_database(settings).dispose()
    check_port_free(host, port)
    from integrity.api.server import run_server, server_config

    if not run_server(server_config(settings, host=host, port=port, workers=workers)):
        raise typer.Exit(1)


def worker(
    queues: str = typer.Option(
        "", help="Comma-separated stages; default all (ingest,analyze,score,rescan)."
    ),
    concurrency: int = typer.Option(DEFAULT_WORKER_CONCURRENCY, min=1, help="Pool processes."),
    beat: bool = typer.Option(False, help="Also run the beat scheduler (one process only)."),
) -> None:
    """Run a Celery worker on the stage queues."""
    from integrity.service.queues import STAGES, create_celery, queue_name

    settings = cli_settings()
    require_models_dir(settings)
    app = create_celery(settings)
    stages = [s.strip() for s in queues.split(",") if s.strip()] or list(STAGES)
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        fail(f"--queues: unknown stages {unknown}; choose from {list(STAGES)}")
    argv = [
        "worker",
        "--loglevel",
        settings.log_level,
        "--concurrency",
        str(concurrency),
        "-Q",
        ",".join(queue_name(stage, settings) for stage in stages),
    ]
    if beat:
        argv.append("--beat")
    app.worker_main(argv)


def beat() -> None:
    """Run the Celery beat scheduler (the periodic sweep); exactly one per deployment."""
    from integrity.service.queues import create_celery

    settings = cli_settings()
    app = create_celery(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    schedule = settings.data_dir / "celerybeat-schedule"
    app.start(["beat", "--loglevel", settings.log_level, "--schedule", str(schedule)])


@keys_app.command("create")
def keys_create(
    role: str = typer.Option(..., help="uploader | moderator | admin | service"),
    sender: str | None = typer.Option(None, help="The sender an uploader key uploads for."),
    name: str | None = typer.Option(None, help="A label for the key."),
    rate: int | None = typer.Option(None, help="Requests per minute (default from settings)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Create an API key and print it once."""
    from integrity.service import accounts

    with _session() as session:
        created = accounts.create_api_key(
            session, role=role, sender_name=sender, name=name, rate_per_minute=rate
        )
    document = {
        "key": created.key,
        "id": created.id,
        "role": created.role,
        "sender": created.sender,
    }
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"API key {created.id} ({created.role}): {created.key}")
        stdout_console.print("Store it now: it is not shown again.")


@keys_app.command("list")
def keys_list(json_output: bool = JSON_OPTION) -> None:
    """List API keys (prefix, role, sender id, revoked)."""
    from integrity.service import accounts

    with _session() as session:
        rows = [
            {
                "id": k.id,
                "prefix": k.display_prefix,
                "role": k.role,
                "name": k.name,
                "sender_id": k.sender_id,
                "revoked": k.revoked_at is not None,
            }
            for k in accounts.list_api_keys(session)
        ]
    if json_output:
        emit_json({"keys": rows})
    else:
        for row in rows:
            stdout_console.print(" ".join(f"{k}={v}" for k, v in row.items()))


@keys_app.command("revoke")
def keys_revoke(key_id: int = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Revoke an API key."""
    from integrity.service import accounts

    with _session() as session:
        accounts.revoke_api_key(session, key_id=key_id)
    if json_output:
        emit_json({"id": key_id, "revoked": True})
    else:
        stdout_console.print(f"API key {key_id} revoked")


@senders_app.command("add")
def senders_add(
    name: str = typer.Argument(...),
    dpids: list[str] = DPID_OPTION,
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a sender and print its webhook secret once."""
    from integrity.service import accounts

    with _session() as session:
        sender, secret = accounts.create_sender(session, name=name, dpids=tuple(dpids))
        document = {
            "sender": sender.name,
            "secret": secret,
            "dpids": accounts.sender_dpids(session, sender_id=sender.id),
        }
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"sender {document['sender']}: webhook secret {secret}")
        if not document["dpids"]:
            stdout_console.print(
                "No DPID yet: its deliveries are refused until `integrity senders add-dpid`."
            )


@senders_app.command("add-dpid")
def senders_add_dpid(
    name: str = typer.Argument(..., help="The sender."),
    dpid: str = typer.Argument(..., help="A DDEX Party ID it sends as (MessageSender)."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Let a sender deliver messages whose MessageSender is this DPID."""
    from integrity.service import accounts

    _change_dpids(name, dpid, accounts.add_dpid, json_output=json_output)


@senders_app.command("remove-dpid")
def senders_remove_dpid(
    name: str = typer.Argument(..., help="The sender."),
    dpid: str = typer.Argument(..., help="The DDEX Party ID to stop accepting."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Stop accepting a DPID from a sender (its tracks stay its own)."""
    from integrity.service import accounts

    _change_dpids(name, dpid, accounts.remove_dpid, json_output=json_output)


def _change_dpids(
    name: str, dpid: str, change: Callable[..., object], *, json_output: bool
) -> None:
    from integrity.service import accounts

    with _session() as session:
        sender = accounts.sender_by_name(session, name=name)
        change(session, sender=sender, dpid=dpid)
        document = {"sender": name, "dpids": accounts.sender_dpids(session, sender_id=sender.id)}
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"sender {name}: DPIDs {', '.join(document['dpids']) or 'none'}")


def _set_disabled(name: str, *, disabled: bool, json_output: bool) -> None:
    from integrity.service import accounts

    with _session() as session:
        sender = accounts.sender_by_name(session, name=name)
        accounts.set_disabled(session, sender=sender, disabled=disabled)
    if json_output:
        emit_json({"sender": name, "disabled": disabled})
    else:
        stdout_console.print(f"sender {name}: {'disabled' if disabled else 'enabled'}")


@senders_app.command("disable")
def senders_disable(name: str = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Refuse a sender's keys and webhooks (within the API's 30-s key cache)."""
    _set_disabled(name, disabled=True, json_output=json_output)


@senders_app.command("enable")
def senders_enable(name: str = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Accept a disabled sender again."""
    _set_disabled(name, disabled=False, json_output=json_output)


@senders_app.command("list")
def senders_list(json_output: bool = JSON_OPTION) -> None:
    """Senders with their DPIDs and whether they are disabled (secrets are never shown)."""
    from integrity.service import accounts

    with _session() as session:
        rows: list[dict[str, Any]] = [
            {"id": sender.id, "name": sender.name, "disabled": sender.disabled, "dpids": dpids}
            for sender, dpids in accounts.list_senders(session)
        ]
    if json_output:
        emit_json({"senders": rows})
    else:
        for row in rows:
            state = " (disabled)" if row["disabled"] else ""
            stdout_console.print(f"{row['name']}{state}: {', '.join(row['dpids']) or 'no DPID'}")


@senders_app.command("rotate")
def senders_rotate(
    name: str = typer.Argument(...),
    revoke_old: bool = typer.Option(False, help="Revoke the current secrets now."),
    json_output: bool = JSON_OPTION,
) -> None:
    """Add a new webhook secret (old ones keep verifying unless --revoke-old)."""
    from integrity.service import accounts

    with _session() as session:
        sender = accounts.sender_by_name(session, name=name)
        secret = accounts.rotate_secret(session, sender=sender, revoke_old=revoke_old)
    if json_output:
        emit_json({"sender": name, "secret": secret})
    else:
        stdout_console.print(f"sender {name}: new webhook secret {secret}")


@deadletters_app.command("list")
def deadletters_list(
    include_replayed: bool = typer.Option(False, "--all", help="Also those already replayed."),
    limit: int = typer.Option(100, min=1),
    json_output: bool = JSON_OPTION,
) -> None:
    """Tasks that exhausted their retries or were quarantined."""
    from integrity.service import deadletters

    with _session() as session:
        rows = [
            deadletters.dead_letter_as_dict(letter)
            for letter in deadletters.list_dead_letters(
                session, include_replayed=include_replayed, limit=limit
            )
        ]
    if json_output:
        emit_json({"dead_letters": rows})
    else:
        for row in rows:
            stdout_console.print(
                f"{row['id']} {row['task']} args={row['args']} {row['reason']}: {row['error']}"
            )


@deadletters_app.command("replay")
def deadletters_replay(
    letter_ids: list[int] = LETTER_IDS_ARGUMENT,
    json_output: bool = JSON_OPTION,
) -> None:
    """Send dead letters' tasks again (each with a fresh task id, after the commit)."""
    from integrity.service import deadletters
    from integrity.service.queues import create_celery

    celery = create_celery(cli_settings())
    replayed = []
    for letter_id in letter_ids:
        with _session() as session:
            letter = deadletters.mark_replayed(session, letter_id=letter_id)
            task_name, args, kwargs, queue, task_id = (
                letter.task_name,
                letter.args,
                letter.kwargs,
                letter.queue,
                letter.replay_task_id,
            )
        try:
            celery.send_task(task_name, args=args, kwargs=kwargs, queue=queue, task_id=task_id)
        except Exception as exc:  # the broker is down: undo the mark so a later replay works
            with _session() as session:
                deadletters.unmark_replayed(session, letter_id=letter_id)
            fail(
                f"dead letter {letter_id}: could not send ({type(exc).__name__}: {exc})",
                code=EXIT_FOUND,
            )
        replayed.append({"id": letter_id, "task": task_name, "task_id": task_id})
    if json_output:
        emit_json({"replayed": replayed})
    else:
        for row in replayed:
            stdout_console.print(f"replayed {row['id']} as {row['task']} {row['task_id']}")


@rescan_app.command("start")
def rescan_start(
    kind: str = typer.Option(
        "all", "--scope", help="all | since | sender | pipeline_version | model_version"
    ),
    value: str | None = typer.Option(
        None,
        help="The date, sender or pipeline version; for model_version a model name "
        "(synthetic, spam) or * (the default: tracks scored by an older version of any model).",
    ),
    json_output: bool = JSON_OPTION,
) -> None:
    """Start a rescan on the workers (after activating a model: --scope model_version)."""
    from integrity.service import accounts, rescans
    from integrity.service.queues import create_celery

    settings = cli_settings()
    models_dir = require_models_dir(settings)
    scope = {"kind": kind} if value is None else {"kind": kind, "value": value}
    with _session() as session:
        rescan = rescans.create_rescan(
            session,
            scope=scope,
            actor=accounts.OPERATOR_ACTOR,
            role=accounts.OPERATOR_ROLE,
            models_dir=models_dir,
        )
        document = rescans.rescan_as_dict(rescan)
    _send_rescan(create_celery(settings), document["id"])
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"rescan {document['id']}: {document['total']} tracks queued")


def _send_rescan(celery: Celery, rescan_id: int) -> None:
    from integrity.service.queues import RESCAN_BATCH_TASK, Stage, queue_name

    queue = queue_name(Stage.RESCAN, cli_settings())
    celery.send_task(RESCAN_BATCH_TASK, args=[rescan_id], queue=queue)


@rescan_app.command("status")
def rescan_status(rescan_id: int = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Progress of a rescan."""
    from integrity.service import rescans

    with _session() as session:
        document = rescans.rescan_as_dict(rescans.get_rescan(session, rescan_id=rescan_id))
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(
            f"rescan {rescan_id}: {document['status']} {document['done']}/{document['total']}"
        )


@rescan_app.command("cancel")
def rescan_cancel(rescan_id: int = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Stop a rescan at its next batch."""
    from integrity.service import accounts, rescans

    with _session() as session:
        document = rescans.rescan_as_dict(
            rescans.cancel_rescan(
                session,
                rescan_id=rescan_id,
                actor=accounts.OPERATOR_ACTOR,
                role=accounts.OPERATOR_ROLE,
            )
        )
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"rescan {rescan_id}: {document['status']}")


@rescan_app.command("resume")
def rescan_resume(rescan_id: int = typer.Argument(...), json_output: bool = JSON_OPTION) -> None:
    """Send the next batch of an active rescan again (after a crash; the cursor is kept)."""
    from integrity.service import rescans
    from integrity.service.queues import create_celery

    with _session() as session:
        document = rescans.rescan_as_dict(rescans.get_rescan(session, rescan_id=rescan_id))
    if document["status"] not in rescans.ACTIVE_STATES:
        fail(f"rescan {rescan_id} is {document['status']}; nothing to resume")
    _send_rescan(create_celery(cli_settings()), rescan_id)
    if json_output:
        emit_json(document)
    else:
        stdout_console.print(f"rescan {rescan_id}: resumed at {document['done']}")


def register(app: typer.Typer) -> None:
    """Add the service commands to the `integrity` command."""
    app.command("serve", epilog=SERVICE_HELP)(serve)
    app.command("worker", epilog=SERVICE_HELP)(worker)
    app.command("beat")(beat)
    app.add_typer(keys_app, name="keys")
    app.add_typer(senders_app, name="senders")
    app.add_typer(deadletters_app, name="deadletters")
    app.add_typer(rescan_app, name="rescan")
