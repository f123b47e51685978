"""The `hotline` command: run, worker, simulate, check-config, db upgrade.

A composition root: reads the environment, starts embedded services when none
are configured, and hands plain settings to the processes it starts.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from accounts.store import AccountStore
    from simulator.carrier import Carrier
    from web.config import HotlineConfig

from core.embedded_redis import EmbeddedRedis, free_port
from core.errors import ConfigError, HotlineError, SettingsError
from core.settings import DOCUMENTED_VARIABLES, Settings


def _settings() -> Settings:
    try:
        return Settings.from_env(os.environ)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
def main(verbose: bool) -> None:
    """hotline: a self-hosted IT help-desk telephone line."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # Alembic logs each plugin it sets up when it is first imported, which the
    # commands do lazily, after the line above. Those lines tell a user nothing
    # (and were never shown while the command lived in `web`, whose package
    # imported Alembic before logging was set up).
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def _load_config_or_exit(folder: Path) -> HotlineConfig:
    """The configuration folder, loaded; a broken one exits 1 with file:line."""
    from web.config import load_config

    try:
        return load_config(folder)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command("check-config")
@click.option(
    "--config",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Configuration folder (default: HOTLINE_CONFIG or ./config).",
)
def check_config(folder: Path | None) -> None:
    """Validate every configuration file; errors say file:line: reason."""
    folder = folder or _settings().config_dir
    config = _load_config_or_exit(folder)
    from queues.groups import routing_groups

    click.echo(
        f"{folder}: OK — {len(config.routing.queues)} queues, "
        f"{len(config.routing.hotliners)} hotliners, "
        f"{len(config.ivr.nodes)} IVR nodes"
    )
    groups = routing_groups(config.routing)
    click.echo(
        f"routing groups (queues that share hotliners; HOTLINE_ROUTING_GROUPS=auto "
        f"splits live state by them): {len(groups.names)}"
    )
    for name in groups.names:
        staffed = sum(1 for g in groups.by_agent.values() if g == name)
        click.echo(
            f"  {name}: {', '.join(groups.members[name])} "
            f"({staffed} hotliner{'s' if staffed != 1 else ''})"
        )


@main.group()
def users() -> None:
    """Accounts of hotliners, supervisors and admins (who logs in, with what role)."""


def _accounts() -> AccountStore:
    """The account store on the configured database, its schema up to date."""
    from accounts.store import AccountStore
    from calllog.db import create_db_engine, upgrade

    url = _settings().effective_database_url
    logging.getLogger("alembic.runtime.migration").setLevel(logging.WARNING)
    upgrade(url)
    return AccountStore(create_db_engine(url))


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    return str(click.prompt("password", hide_input=True, confirmation_prompt=True))


def _account_action(action: Callable[[AccountStore], str]) -> None:
    """Run an account change; a refusal exits 1 saying why."""
    from accounts.store import AccountError

    try:
        click.echo(action(_accounts()))
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc


_ROLES = click.Choice(["hotliner", "supervisor", "admin"])
_PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input."
)


@users.command("add")
@click.argument("account_id")
@click.option("--name", default="", help="Full name (default: the id).")
@click.option("--role", type=_ROLES, default="hotliner", show_default=True)
@click.option("--no-password", is_flag=True, help="API token only, no login.")
@_PASSWORD_STDIN
def users_add(
    account_id: str, name: str, role: str, no_password: bool, password_stdin: bool
) -> None:
    """Create an account (a hotliner's id is the one in hotliners.yaml)."""
    from accounts.roles import Role

    password = None if no_password else _new_password(password_stdin)
    _account_action(
        lambda store: f"created {store.add(account_id, name, Role(role), password).id}"
    )


@users.command("set-password")
@click.argument("account_id")
@_PASSWORD_STDIN
def users_set_password(account_id: str, password_stdin: bool) -> None:
    """Set a new password."""
    password = _new_password(password_stdin)

    def change(store: AccountStore) -> str:
        store.set_password(account_id, password)
        return f"password of {account_id} changed"

    _account_action(change)


@users.command("set-role")
@click.argument("account_id")
@click.argument("role", type=_ROLES)
def users_set_role(account_id: str, role: str) -> None:
    """Change an account's role."""
    from accounts.roles import Role

    def change(store: AccountStore) -> str:
        store.set_role(account_id, Role(role))
        return f"{account_id} is now {role}"

    _account_action(change)


@users.command("disable")
@click.argument("account_id")
def users_disable(account_id: str) -> None:
    """Stop an account from logging in or using its token (kept for the log)."""

    def change(store: AccountStore) -> str:
        store.set_active(account_id, False)
        return f"{account_id} disabled"

    _account_action(change)


@users.command("enable")
@click.argument("account_id")
def users_enable(account_id: str) -> None:
    """Let a disabled account in again."""

    def change(store: AccountStore) -> str:
        store.set_active(account_id, True)
        return f"{account_id} enabled"

    _account_action(change)


@users.command("token")
@click.argument("account_id")
def users_token(account_id: str) -> None:
    """Print a new API token for scripts (the previous one stops working)."""
    _account_action(lambda store: store.issue_token(account_id))


@users.command("sync")
def users_sync() -> None:
    """An account for every hotliner of hotliners.yaml that has none."""
    config = _load_config_or_exit(_settings().config_dir)
    hotliners = [(h.id, h.name) for h in config.routing.hotliners.values()]

    def sync(store: AccountStore) -> str:
        created = store.add_hotliners(hotliners)
        return f"created: {', '.join(created) or 'none'} (set their passwords)"

    _account_action(sync)


@users.command("list")
def users_list() -> None:
    """Every account: id, role, whether it can log in."""
    for account in _accounts().all():
        state = "active" if account.active else "disabled"
        login = "password" if account.has_password else "no password"
        click.echo(
            f"{account.id:20} {account.role:10} {state:8} {login}  {account.name}"
        )


@main.group()
def db() -> None:
    """Call log database commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the call log schema."""
    from calllog.db import upgrade

    settings = _settings()
    upgrade(settings.effective_database_url)
    click.echo(
        f"call log schema up to date ({_masked(settings.effective_database_url)})"
    )


def _carrier(settings: Settings, app_url: str, time_scale: float) -> Carrier:
    """The carrier simulator, playing Twilio for the hotline at `app_url`.

    The console page, served from the app's origin, answers calls through the
    carrier's softphone API: that origin is the one allowed to call it.
    """
    from urllib.parse import urlsplit

    from queues import webhooks
    from simulator.carrier import Carrier, CarrierConfig

    app = urlsplit(app_url)
    default_port = {"http": ":80", "https": ":443"}.get(app.scheme)
    origins = (
        (f"{app.scheme}://{app.netloc}".lower().removesuffix(default_port),)
        if default_port and app.netloc
        else ()
    )
    return Carrier(
        CarrierConfig(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            voice_url=app_url + webhooks.INCOMING,
            status_callback_url=app_url + webhooks.STATUS,
            hotline_number=settings.hotline_number,
            time_scale=time_scale,
            console_origins=origins,  # browsers omit a default port
        )
    )


def _masked(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


@main.command()
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--to", "last", required=True, help="Last local day, YYYY-MM-DD.")
@click.option(
    "--by",
    type=click.Choice(
        ["queue", "agent", "problem", "fault", "halfhour", "day", "week", "all"]
    ),
    default="queue",
    show_default=True,
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
def report(first: str, last: str, by: str, fmt: str) -> None:
    """The standard figures of the calls of a period (docs/METRICS.md)."""
    import csv
    import json
    import sys
    from datetime import date

    from calllog.db import create_db_engine
    from calllog.reports import (
        COLUMNS,
        SHORT_ABANDON_SECONDS,
        agent_time,
        cells,
        thresholds,
        totals_of,
    )
    from calllog.reports import report as make_report

    for name, value in (("--from", first), ("--to", last)):
        try:
            date.fromisoformat(value)
        except ValueError:
            raise click.BadParameter(
                f"{value!r} is not a day like 2026-12-01", param_hint=name
            ) from None
    settings = _settings()
    config = _load_config_or_exit(settings.config_dir)
    engine = create_db_engine(settings.effective_database_url)
    try:
        rows = make_report(engine, first, last, by, thresholds(config.routing))
        tz = config.routing.hotline.timezone
        agents = agent_time(engine, first, last, tz) if by == "agent" else []
    finally:
        engine.dispose()
    if fmt == "json":
        out = {"rows": [r.as_json() for r in rows]}
        if by == "agent":
            out["agents"] = [a.as_json() for a in agents]
        click.echo(json.dumps(out, indent=2))
        return
    headings = [by, *(h for h, _ in COLUMNS)]
    lines = [[r.key, *cells(r)] for r in rows]
    if len(rows) > 1:
        lines.append(["total", *cells(totals_of(rows))])
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(headings)
        writer.writerows(lines)
        return
    widths = [max(len(x) for x in col) for col in zip(headings, *lines, strict=False)]
    for line in (headings, *lines):
        click.echo(
            "  ".join(cell.rjust(w) for cell, w in zip(line, widths, strict=True))
        )
    click.echo(
        f"\n{first} to {last}, local days; abandons under {SHORT_ABANDON_SECONDS} s "
        "left out of the service level and the abandon rate (docs/METRICS.md)"
    )
    if agents:
        click.echo("\ntime in state (minutes), occupancy, offers declined and missed:")
        states = ("available", "reserved", "busy", "wrapup", "break", "away")
        click.echo(
            "  ".join(
                [
                    "agent".rjust(10),
                    *(s.rjust(9) for s in states),
                    "occupancy".rjust(9),
                    "declined".rjust(8),
                    "missed".rjust(6),
                ]
            )
        )
        for a in agents:
            occupancy = "—" if a.occupancy is None else f"{a.occupancy * 100:.1f}%"
            minutes = (f"{a.seconds.get(s, 0.0) / 60:.1f}".rjust(9) for s in states)
            click.echo(
                "  ".join(
                    [
                        a.agent_id.rjust(10),
                        *minutes,
                        occupancy.rjust(9),
                        str(a.declined_offers).rjust(8),
                        str(a.missed_offers).rjust(6),
                    ]
                )
            )


@main.group()
def shifts() -> None:
    """The rota against the calls expected (staffing)."""


@shifts.command("coverage")
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD.")
@click.option("--days", default=7, show_default=True, type=click.IntRange(1, 62))
@click.option(
    "--weeks",
    default=4,
    show_default=True,
    type=click.IntRange(1, 52),
    help="Weeks of call log before --from the demand is measured on.",
)
@click.option(
    "--patience",
    type=click.FloatRange(min=1.0),
    help="Callers' mean patience (s): Erlang A instead of Erlang C.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv"]),
    default="table",
    show_default=True,
)
def shifts_coverage(
    first: str, days: int, weeks: int, patience: float | None, fmt: str
) -> None:
    """Per skill and half hour: hotliners on shift beside those the queues'
    service-level targets need, from the calls of the last weeks."""
    from datetime import date

    from sqlalchemy.exc import SQLAlchemyError

    from calllog.coverage import coverage_report
    from calllog.db import create_db_engine
    from queues.staffing import as_csv, as_table

    try:
        first_day = date.fromisoformat(first)
    except ValueError:
        raise click.BadParameter(
            f"{first!r} is not a day like 2026-12-07", param_hint="--from"
        ) from None
    settings = _settings()
    config = _load_config_or_exit(settings.config_dir)
    engine = create_db_engine(settings.effective_database_url)
    try:
        rows = coverage_report(
            engine, config.routing, first_day, days, weeks=weeks, patience=patience
        )
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"the call log cannot be read ({type(exc).__name__}); "
            "is it set up (`hotline db upgrade`)?"
        ) from None
    finally:
        engine.dispose()
    click.echo(as_csv(rows) if fmt == "csv" else as_table(rows), nl=False)


@main.group()
def calllog() -> None:
    """Call log upkeep."""


@calllog.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go, change nothing.")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Older than this many days (default: hotline.yaml calllog.retention_days).",
)
def calllog_purge(dry_run: bool, days: int | None) -> None:
    """Remove the personal data of old calls; their figures stay (RGPD)."""
    from calllog.db import create_db_engine
    from calllog.retention import anonymise_before, retention_cutoff

    settings = _settings()
    config = _load_config_or_exit(settings.config_dir)
    keep = days if days is not None else config.routing.hotline.retention_days
    before = retention_cutoff(keep)
    if before is None:
        raise click.ClickException(
            "no retention period: set calllog.retention_days in hotline.yaml, "
            "or give --days"
        )
    engine = create_db_engine(settings.effective_database_url)
    try:
        done = anonymise_before(engine, before, dry_run=dry_run)
    finally:
        engine.dispose()
    verb = "would anonymise" if dry_run else "anonymised"
    click.echo(
        f"{verb} {done.calls} calls started before {before:%Y-%m-%d %H:%M} UTC "
        f"({done.events} events); their figures are kept"
    )


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run an RQ worker with RQ's scheduler and the sweeper clock."""
    from cli.worker import run_worker

    settings = _settings()
    if settings.redis_url is None:
        raise click.ClickException("the worker needs REDIS_URL (`hotline run` sets it)")
    run_worker(settings, burst=burst)


@main.command()
def env() -> None:
    """List the environment variables the hotline reads."""
    for name, text in DOCUMENTED_VARIABLES.items():
        click.echo(f"{name}\n    {text}")


@main.command()
@click.option("--port", default=5000, show_default=True, help="Web port (loopback).")
@click.option(
    "--feed-port",
    type=int,
    default=None,
    help="Port of the consoles' live feed (loopback)  [default: the web port + 1]",
)
@click.option(
    "--demo/--no-demo",
    default=True,
    show_default=True,
    help="With the simulator: place a trickle of demo calls.",
)
@click.option("--calls-per-minute", default=4.0, show_default=True)
@click.option(
    "--time-scale",
    default=1.0,
    show_default=True,
    help="Simulator speed: 0.1 makes every wait ten times shorter.",
)
def run(
    port: int,
    feed_port: int | None,
    demo: bool,
    calls_per_minute: float,
    time_scale: float,
) -> None:
    """Run the whole hotline: web, worker, and embedded services when unset.

    Supervises its processes: a dead Valkey, web or worker is reaped, logged
    and restarted while the others keep running (`cli.supervise`).
    """
    from calllog.db import upgrade
    from cli.stack import Stack
    from cli.supervise import (
        Child,
        Supervisor,
        SupervisorGaveUp,
        become_subreaper,
        reap_orphans_until_none,
    )

    settings = _settings()
    settings.instance_dir.mkdir(parents=True, exist_ok=True)
    log_dir = settings.instance_dir / "logs"
    env: dict[str, str] = {
        "HOTLINE_INSTANCE": str(settings.instance_dir),
        "HOTLINE_CONFIG": str(settings.config_dir),
    }
    embedded: EmbeddedRedis | None = None
    carrier = None
    stack: Stack | None = None
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    subreaper = become_subreaper()
    try:
        from web.config import load_config

        config = load_config(settings.config_dir)
        if settings.redis_url is None:
            embedded = EmbeddedRedis(settings.instance_dir / "redis")
            embedded.start()
            env["REDIS_URL"] = embedded.url
            click.echo(
                f"embedded Valkey on {embedded.url} (data in {embedded.data_dir})"
            )
        upgrade(settings.effective_database_url)
        public = settings.public_base_url or f"http://127.0.0.1:{port}"
        env["PUBLIC_BASE_URL"] = public
        if settings.simulated:
            carrier = _carrier(settings, public, time_scale)
            carrier.start(host="127.0.0.1", port=free_port())
            env["TWILIO_API_BASE_URL"] = carrier.api_base_url
            click.echo(f"carrier simulator plays Twilio at {carrier.api_base_url}")
            from cli.demo import register_on_call

            register_on_call(carrier, config)
        tokens: dict[str, str] = {}
        if settings.simulated:
            from cli.demo import demo_accounts

            logins, tokens = demo_accounts(settings, config)
        stack = Stack(env, port, log_dir, feed_port=feed_port or port + 1)
        stack.start()
        click.echo(f"\n  Hotline running. Dashboard: {stack.url}/supervisor")
        click.echo(f"  Last calls: {stack.url}/supervisor/calls")
        click.echo(f"  Hotliners' console: {stack.url}/console\n")
        if carrier is not None:
            click.echo(f"  try the voice menu: {carrier.api_base_url}/phone\n")
            click.echo("  demo logins (simulation only, new passwords each run):")
            for line in logins:
                click.echo(f"    {line}")
            click.echo("")
        if carrier is not None and demo:
            from cli.demo import register_hotliners, trickle

            rng = random.Random()
            on_duty = register_hotliners(carrier, config, stack.url, rng, tokens)
            click.echo(
                f"  demo: {len(on_duty)} simulated hotliners on shift now "
                f"({', '.join(on_duty) or 'nobody: callers get callback/voicemail'}),"
                f" ~{calls_per_minute:g} calls/minute (Ctrl-C to stop)"
            )
            threading.Thread(
                target=trickle,
                args=(carrier, config, stop, calls_per_minute, rng),
                daemon=True,
            ).start()
        children: list[Child] = [*([embedded] if embedded else []), *stack.children]
        try:
            Supervisor(children, reap_orphans=subreaper).run(stop)
        except SupervisorGaveUp as exc:
            raise click.ClickException(f"{exc}; see the logs in {log_dir}") from exc
    except HotlineError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        stop.set()
        # The simulated calls end first, while the app still hears their
        # final status callbacks; then the app, then its Redis.
        if carrier is not None:
            carrier.stop()
        if stack is not None:
            stack.stop()
        if embedded is not None:
            embedded.stop()
        if subreaper:
            reap_orphans_until_none()
        click.echo("hotline stopped")


@main.group()
def simulate() -> None:
    """Drive a running hotline with the carrier simulator."""


@simulate.command("calls")
@click.option("--app", "app_url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--count", default=10, show_default=True)
@click.option(
    "--interval", default=1.0, show_default=True, help="Seconds between two calls."
)
@click.option("--time-scale", default=1.0, show_default=True)
@click.option("--timeout", default=600.0, show_default=True)
def simulate_calls(
    app_url: str, count: int, interval: float, time_scale: float, timeout: float
) -> None:
    """Place COUNT scripted calls; the hotline must run with TWILIO_API_BASE_URL
    pointing at this simulator (as `hotline run` arranges)."""
    from cli.demo import random_caller
    from web.config import load_config

    settings = _settings()
    config = load_config(settings.config_dir)
    carrier = _carrier(settings, app_url, time_scale)
    carrier.start(host="127.0.0.1", port=0)
    rng = random.Random()
    try:
        handles = []
        for _ in range(count):
            handles.append(carrier.place_call(random_caller(config, rng)))
            time.sleep(interval)
        carrier.wait_idle(timeout=timeout)
        for handle in handles:
            click.echo(f"{handle.sid} {handle.status}")
        for error in carrier.errors:
            click.echo(f"error: {error}", err=True)
    finally:
        carrier.stop()


@main.group("ivr")
def ivr_group() -> None:
    """Look at the voice menu: an outline, or a flowchart (Mermaid or SVG)."""


_CONFIG_OPTION = click.option(
    "--config",
    "folder",
    type=click.Path(path_type=Path),
    default=None,
    help="Configuration folder (default: HOTLINE_CONFIG or ./config).",
)
_LANG_OPTION = click.option(
    "--lang",
    default=None,
    help="Language of prompts, labels and steps (default: the hotline's first).",
)


def _ivr_render(folder: Path | None, lang: str | None, drawing: str) -> str:
    """`drawing` of the configured tree (`ivr.graph`, or `cli.ivr_svg` for SVG);
    a broken configuration exits 1 with file:line: reason, like `check-config`."""
    from cli import ivr_svg
    from ivr import graph

    folder = folder or _settings().config_dir
    config = _load_config_or_exit(folder)
    languages = config.ivr.languages
    if lang is not None and lang not in languages:
        raise click.BadParameter(
            f"{lang!r} is not one of {', '.join(languages)}", param_hint="--lang"
        )
    draw = {"outline": graph.outline, "mermaid": graph.mermaid, "svg": ivr_svg.svg}
    return draw[drawing](config.ivr, config.kb, lang or languages[0])


@ivr_group.command("show")
@_CONFIG_OPTION
@_LANG_OPTION
def ivr_show(folder: Path | None, lang: str | None) -> None:
    """Print the IVR tree as an outline from the start node."""
    click.echo(_ivr_render(folder, lang, "outline"), nl=False)


@ivr_group.command("graph")
@_CONFIG_OPTION
@_LANG_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "svg"]),
    default="mermaid",
    show_default=True,
    help="Mermaid flowchart text, or a standalone SVG picture.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file instead of standard output.",
)
def ivr_graph(
    folder: Path | None, lang: str | None, fmt: str, output: Path | None
) -> None:
    """Write the IVR tree as a flowchart (paste Mermaid into docs, open SVG)."""
    text = _ivr_render(folder, lang, fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    click.echo(f"wrote {output} ({fmt})")
