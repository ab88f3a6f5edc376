"""The ``telecon`` command: serve, worker, db upgrade, create-user, deactivate-user, reactivate-user, demo,
reencrypt-notes."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy.engine import make_url

from telecon import logs, migrate
from telecon.access import Role
from telecon.db import make_engine, make_sessionmaker
from telecon.errors import Conflict, DomainError, InvalidInput
from telecon.organizations import memberships
from telecon.organizations import services as organizations
from telecon.organizations.models import Profession
from telecon.settings import Settings


def _prepare_sqlite_dir(settings: Settings) -> None:
    if settings.is_sqlite and (database := make_url(settings.database_url).database):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


async def _upgrade(settings: Settings) -> None:
    _prepare_sqlite_dir(settings)
    engine = make_engine(settings.database_url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _create_user(settings: Settings, args: argparse.Namespace) -> None:
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            organization = await organizations.get_or_create_organization(session, args.organization)
            if args.add_membership:
                user = await organizations.add_membership(
                    session, organization_id=organization.id, email=args.email, role=Role(args.role)
                )
            else:
                if not args.password:
                    raise InvalidInput("a new account needs --password", field="password")
                try:
                    user = await organizations.create_user(
                        session,
                        organization_id=organization.id,
                        email=args.email,
                        password=args.password,
                        role=Role(args.role),
                        display_name=args.name or args.email.split("@")[0],
                        profession=Profession(args.profession) if args.profession else None,
                        languages=args.language or ["de"],
                        timezone=args.timezone,
                    )
                except Conflict as error:
                    raise Conflict(
                        "an account with this email already exists and was left unchanged; to make it a member of"
                        " this organization as well, run the command again with --add-membership",
                        field=error.field,
                    ) from None
        if args.add_membership:
            print(
                f"the existing account {user.email} is now a {args.role} of {organization.name!r} (organization id"
                f" {organization.id}); its password, name, profession, languages and time zone were NOT changed"
            )
        else:
            print(f"{args.role} {user.email} created in {organization.name!r} (organization id {organization.id})")
    finally:
        await engine.dispose()


async def _set_account_active(settings: Settings, email: str, *, active: bool) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            user = await memberships.set_account_active(session, email, active=active)
        state = "active again" if active else "deactivated: no login, no token, not bookable"
        print(f"{user.email} is {state} in every organization")
    finally:
        await engine.dispose()


async def _demo(settings: Settings) -> None:
    from telecon.demo import seed_demo

    engine = make_engine(settings.database_url)
    try:
        logins = await seed_demo(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    print("Demo organization ready. Logins (role, email, password):")
    for line in logins:
        print("  " + line)


async def _reencrypt_notes(settings: Settings) -> int:
    from telecon.calendars.services import SEALED_PASSWORDS, SEALED_URLS
    from telecon.crypto import KeyRing
    from telecon.outcomes.keys import SEALED_NOTES
    from telecon.rotation import reencrypt
    from telecon.webhooks.services import SEALED_SECRETS

    keys = KeyRing.from_settings(settings)
    engine = make_engine(settings.database_url)
    left = 0
    try:
        for sealed, what in (
            (SEALED_NOTES, "clinical notes"),
            (SEALED_SECRETS, "webhook secrets"),
            (SEALED_PASSWORDS, "calendar passwords"),
            (SEALED_URLS, "calendar URLs"),
        ):
            reencrypted, unchanged = await reencrypt(make_sessionmaker(engine), keys, sealed)
            print(f"re-encrypted {reencrypted} {what} under the current key {keys.current_id}")
            if unchanged:
                print(
                    f"telecon: {unchanged} {what} could not be decrypted (their key is not in TELECON_ENCRYPTION_KEY"
                    " or TELECON_ENCRYPTION_OLD_KEYS, or they are damaged) and were left unchanged; the log names"
                    " their rows",
                    file=sys.stderr,
                )
            left += unchanged
    finally:
        await engine.dispose()
    if left:
        return 1
    print("nothing is left under other keys: the old keys can leave TELECON_ENCRYPTION_OLD_KEYS")
    return 0


def links_follow_the_server(settings: Settings, host: str, port: int) -> Settings:
    """In development without ``TELECON_PUBLIC_URL``, join links point at the address being served."""
    if "public_url" in settings.model_fields_set or settings.env != "development":
        return settings
    if host in ("0.0.0.0", "::"):  # noqa: S104 (compared, not bound): every interface, so loopback works
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return settings.model_copy(update={"public_url": f"http://{host}:{port}"})


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    import uvicorn

    from telecon.app import create_app, freeze_startup_heap

    settings = links_follow_the_server(settings, args.host, args.port)
    asyncio.run(_upgrade(settings))
    if args.demo:
        asyncio.run(_demo(settings))
    print(f"telecon on http://{args.host}:{args.port}  (API docs: http://{args.host}:{args.port}/schema)")
    app = create_app(settings)
    freeze_startup_heap()
    # proxy_headers off: uvicorn would believe X-Forwarded-For from FORWARDED_ALLOW_IPS; the client address
    # comes from telecon.addresses.client_address and TELECON_TRUSTED_PROXIES alone.
    # log_config None: uvicorn's loggers keep telecon.logs' format. On SIGTERM uvicorn stops accepting,
    # lets requests in flight finish for up to TELECON_SHUTDOWN_SECONDS, then runs the app's shutdown (the
    # in-process relay finishes its sends, the engine and Redis close). Then it raises the signal again
    # under the handler found before it started: ours ends the process with 0, as a finished stop should.
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, _stopped)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info",
        log_config=None,
        proxy_headers=False,
        timeout_graceful_shutdown=settings.shutdown_seconds,
    )


def _stopped(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def _worker(settings: Settings) -> None:
    from arq.worker import Worker

    from telecon.worker import worker_settings

    if settings.redis_url is None:
        raise SystemExit("telecon worker needs TELECON_REDIS_URL; without it `telecon serve` runs the jobs itself")
    Worker(**worker_settings(settings)).run()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="telecon", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate, optionally seed demo data, and serve HTTP")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--demo", action="store_true", help="seed a demo organization and print its logins")

    commands.add_parser("worker", help="run the arq worker (needs TELECON_REDIS_URL)")

    db = commands.add_parser("db", help="database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("upgrade", help="apply all migrations (alembic upgrade head)")

    user = commands.add_parser("create-user", help="create a staff user and, if needed, the organization")
    user.add_argument("--email", required=True)
    user.add_argument("--password", help="required for a new account; never changes an existing one")
    user.add_argument("--role", required=True, choices=[r.value for r in Role])
    user.add_argument("--organization", required=True, help="organization name; created if it does not exist")
    user.add_argument("--name", help="display name (default: the part of the email before @)")
    user.add_argument("--profession", choices=[p.value for p in Profession])
    user.add_argument("--language", action="append", help="a language spoken; repeat for several")
    user.add_argument("--timezone", default="Europe/Berlin")
    user.add_argument(
        "--add-membership",
        action="store_true",
        help="the email already has an account: make it a member of this organization too, changing nothing else",
    )

    for name, what in (("deactivate-user", "switch an account off"), ("reactivate-user", "switch an account on")):
        switch = commands.add_parser(name, help=f"{what} in every organization (admins act per organization)")
        switch.add_argument("--email", required=True)

    commands.add_parser("demo", help="seed a demo organization and print its logins")
    commands.add_parser(
        "reencrypt-notes",
        help="re-encrypt clinical notes, webhook secrets and calendar passwords and URLs under TELECON_ENCRYPTION_KEY, "
        "decrypting with TELECON_ENCRYPTION_OLD_KEYS",
    )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        print(f"telecon: the configuration is not usable: {problems}", file=sys.stderr)
        return 2
    logs.configure(settings)
    try:
        if args.command == "serve":
            _serve(settings, args)
        elif args.command == "worker":
            _worker(settings)
        elif args.command == "db":
            asyncio.run(_upgrade(settings))
            print("database is up to date")
        elif args.command == "create-user":
            asyncio.run(_upgrade(settings))
            asyncio.run(_create_user(settings, args))
        elif args.command in ("deactivate-user", "reactivate-user"):
            asyncio.run(_upgrade(settings))
            asyncio.run(_set_account_active(settings, args.email, active=args.command == "reactivate-user"))
        elif args.command == "demo":
            asyncio.run(_upgrade(settings))
            asyncio.run(_demo(settings))
        elif args.command == "reencrypt-notes":
            asyncio.run(_upgrade(settings))
            return asyncio.run(_reencrypt_notes(settings))
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        print(f"telecon: {error.detail}{where}", file=sys.stderr)
        return 2
    return 0
