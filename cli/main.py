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
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
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
    click.echo(
        f"{folder}: OK — {len(config.routing.queues)} queues, "
        f"{len(config.routing.hotliners)} hotliners, "
        f"{len(config.ivr.nodes)} IVR nodes"
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
    """The carrier simulator, playing Twilio for the hotline at `app_url`."""
    from queues import webhooks
    from simulator.carrier import Carrier, CarrierConfig

    return Carrier(
        CarrierConfig(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token,
            voice_url=app_url + webhooks.INCOMING,
            status_callback_url=app_url + webhooks.STATUS,
            hotline_number=settings.hotline_number,
            time_scale=time_scale,
        )
    )


def _masked(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


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
def run(port: int, demo: bool, calls_per_minute: float, time_scale: float) -> None:
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
        stack = Stack(env, port, log_dir)
        stack.start()
        click.echo(f"\n  Hotline running. Dashboard: {stack.url}/status\n")
        if carrier is not None:
            click.echo(f"  try the voice menu: {carrier.api_base_url}/phone\n")
        if carrier is not None and demo:
            from cli.demo import register_hotliners, trickle

            rng = random.Random()
            on_duty = register_hotliners(carrier, config, stack.url, rng)
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
