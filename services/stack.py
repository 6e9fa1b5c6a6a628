"""`python -m services up`: the whole platform on one machine (what `make run` runs)."""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import sys
import time
from collections.abc import Callable, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from pydantic import ValidationError

from approval_svc.settings import ApprovalSettings
from notify_svc.settings import NotifySettings
from portal_svc.settings import PortalSettings
from services.banner import print_banner
from services.broker import EmbeddedBroker, port_accepts, wait_for_broker
from services.keeper import BrokerKeeper, create_topics
from services.output import Output
from services.smtp_sink import SmtpSink, start_local_mail
from services.supervisor import (
    ChildSpec,
    RestartPolicy,
    ShutdownRequested,
    StopSignals,
    Supervisor,
    describe_restarts,
)
from shared.broker import BrokerError
from shared.settings import (
    PlatformSettings,
    ServiceSettings,
    build_settings,
    get_platform_settings,
)
from supervision_svc.settings import SupervisionSettings

SERVICE_SHUTDOWN_S = 30.0
"""How long a service may take to stop on SIGTERM: uvicorn's graceful shutdown (10 s,
``timeout_graceful_shutdown`` in shared/cli.py) then ``ServiceRuntime.stop`` (about 20 s:
faust 10 s, background jobs 5 s, lease release 2 s, producer 5 s; shared/runtime.py)."""
DEFAULT_STOP_TIMEOUT_S = SERVICE_SHUTDOWN_S + 15.0
"""The runner waits this long for its children before SIGKILL: longer than a service's own
shutdown, so a clean stop is never cut short."""


class StartupError(RuntimeError):
    """The platform could not be brought up; the message says what and why."""


@dataclass(frozen=True)
class ServiceDef:
    name: str  # as printed, e.g. "approval-svc"
    package: str  # the Python package with `migrate` and `serve` commands
    settings: type[ServiceSettings]

    @property
    def port_env(self) -> str:
        return f"{self.settings.model_config.get('env_prefix', '')}PORT"


SERVICES: tuple[ServiceDef, ...] = (
    ServiceDef("approval-svc", "approval_svc", ApprovalSettings),
    ServiceDef("supervision-svc", "supervision_svc", SupervisionSettings),
    ServiceDef("notify-svc", "notify_svc", NotifySettings),
    ServiceDef("portal-svc", "portal_svc", PortalSettings),  # the web pages; no database
)


@dataclass(frozen=True)
class RunningService:
    definition: ServiceDef
    base_url: str

    @property
    def ready_url(self) -> str:
        return f"{self.base_url}/readyz"


def prepare_env(environ: MutableMapping[str, str], out: Output) -> None:
    """Fill in what a local run needs and the user did not set (children inherit it)."""
    if not environ.get("PLATFORM_JWT_SECRET"):
        environ["PLATFORM_JWT_SECRET"] = secrets.token_urlsafe(32)
        out.info(
            out.bold("PLATFORM_JWT_SECRET was not set: generated a development secret for this run")
        )
        out.info(
            "To mint tokens from another shell: "
            f"export PLATFORM_JWT_SECRET={environ['PLATFORM_JWT_SECRET']}"
        )
    # Human-readable service logs on the console unless asked otherwise.
    environ.setdefault("PLATFORM_LOG_JSON", "false")
    # The portal offers development sign-in (pick a role) on a local run only.
    environ.setdefault("PLATFORM_DEV_LOGIN", "true")
    if not environ.get("PLATFORM_CLOCK_EPOCH"):
        environ["PLATFORM_CLOCK_EPOCH"] = datetime.now(UTC).isoformat(timespec="seconds")
        out.info(f"PLATFORM_CLOCK_EPOCH set to now: {environ['PLATFORM_CLOCK_EPOCH']}")


def _url_host(host: str) -> str:
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


def resolve_services() -> list[RunningService]:
    running = []
    for definition in SERVICES:
        settings = build_settings(definition.settings)
        host = _url_host(settings.host)
        if port_accepts(host, settings.port, timeout_s=0.3):
            raise StartupError(
                f"port {settings.port} of {definition.name} is already in use "
                f"(set {definition.port_env} to another port, or stop what listens there)"
            )
        running.append(RunningService(definition, f"http://{host}:{settings.port}"))
    return running


def build_children(
    services: list[RunningService],
    *,
    simulate_departments: bool,
    demo: bool = False,
    simulate_options: Sequence[str] = (),
) -> list[ChildSpec]:
    """Every long-running child; add new helpers here."""
    children = [
        ChildSpec(s.definition.name, [sys.executable, "-m", s.definition.package, "serve"],
                  ready_url=s.ready_url)
        for s in services
    ]  # fmt: skip
    if simulate_departments:
        children.append(
            ChildSpec(
                "simulator",
                [sys.executable, "-m", "services", "simulate-departments", *simulate_options],
                start_after_ready=True,
                may_exit=True,
            )
        )
    if demo:
        children.append(
            ChildSpec(
                "samples",
                [sys.executable, "-m", "services", "submit-samples"],
                start_after_ready=True,
                may_exit=True,
            )
        )
    return children


def start_broker(platform: PlatformSettings, out: Output) -> EmbeddedBroker:
    """The embedded broker on BROKER_PORT, started."""
    broker = EmbeddedBroker(
        port=platform.broker_port, on_output=lambda line: out.line("broker", line)
    )
    out.info(f"starting the embedded broker (Tansu) on {broker.bootstrap}")
    broker.start()
    out.info(f"broker ready on {broker.bootstrap} in {broker.startup_seconds or 0:.2f}s")
    return broker


def await_external_broker(
    platform: PlatformSettings, out: Output, *, timeout_s: float = 30.0
) -> None:
    bootstrap = platform.bootstrap_servers
    why = "--no-broker" if platform.embedded_broker else "KAFKA_BOOTSTRAP_SERVERS"
    out.info(f"using the broker at {bootstrap} ({why}); waiting for it")
    waited = wait_for_broker(bootstrap, timeout_s)
    out.info(f"broker at {bootstrap} answered after {waited:.2f}s")


def migrate(
    sup: Supervisor, services: list[RunningService], *, stop: Callable[[], None] | None = None
) -> None:
    """`python -m <package> migrate` of every service, side by side (separate databases)."""
    names = ", ".join(s.definition.name for s in services)
    sup.out.info(f"migrating the databases of {names}")
    codes = sup.run_to_completion(
        {
            s.definition.name: [sys.executable, "-m", s.definition.package, "migrate"]
            for s in services
        },
        stop=stop,
    )
    failed = [f"{name} (exit code {code})" for name, code in codes.items() if code != 0]
    if failed:
        raise StartupError(f"migrations failed: {', '.join(failed)}")


def _describe(response: httpx.Response | Exception) -> str:
    if isinstance(response, Exception):
        return f"{type(response).__name__}: {response}"
    body = response.text.strip().replace("\n", " ")
    return f"HTTP {response.status_code} {body[:300]}"


def wait_ready(
    sup: Supervisor,
    children: list[ChildSpec],
    out: Output,
    timeout_s: float,
    *,
    stop: Callable[[], None] | None = None,
) -> None:
    pending = {c.name: c.ready_url for c in children if c.ready_url}
    last: dict[str, str] = dict.fromkeys(pending, "no answer yet")
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending:
            if stop is not None:
                stop()
            sup.check()
            for name, url in list(pending.items()):
                try:
                    response = client.get(url)
                except httpx.HTTPError as exc:
                    last[name] = _describe(exc)
                    continue
                if response.status_code == 200:
                    del pending[name]
                    out.info(f"{name} is ready")
                else:
                    last[name] = _describe(response)
            if pending and time.monotonic() > deadline:
                details = "; ".join(f"{n} ({pending[n]}): last response {last[n]}" for n in pending)
                raise StartupError(f"not ready after {timeout_s:.0f}s: {details}")
            if pending:
                time.sleep(0.25)


def run_up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    out = Output()
    signals = StopSignals()
    policy = RestartPolicy()
    sup = Supervisor(
        out, stop_timeout_s=args.stop_timeout, restart=policy, forced=lambda: signals.forced
    )
    broker: EmbeddedBroker | None = None
    keeper: BrokerKeeper | None = None
    mail: SmtpSink | None = None
    out.register("broker", *(s.name for s in SERVICES), "simulator", "samples", "mail")
    with signals.installed():
        try:
            prepare_env(os.environ, out)
            mail = start_local_mail(os.environ, lambda line: out.line("mail", line), out.info)
            platform = get_platform_settings()
            platform.data_dir.mkdir(parents=True, exist_ok=True)
            services = resolve_services()
            children = build_children(
                services,
                simulate_departments=args.simulate_departments,
                demo=args.demo,
                simulate_options=shlex.split(args.simulate_options),
            )
            out.register(*(c.name for c in children))
            if platform.embedded_broker and not args.no_broker:
                broker = start_broker(platform, out)
                keeper = BrokerKeeper(broker, platform, out, policy)
            else:
                await_external_broker(platform, out)
            signals.raise_if_requested()
            create_topics(platform, out)
            migrate(sup, services, stop=signals.raise_if_requested)
            for child in children:
                if not child.start_after_ready:
                    sup.start(child)
            wait_ready(sup, children, out, args.ready_timeout, stop=signals.raise_if_requested)
            for child in children:
                if child.start_after_ready:
                    sup.start(child)
            broker_desc = f"{platform.bootstrap_servers}" + (" (embedded Tansu)" if broker else "")
            out.info(f"up in {time.monotonic() - started:.1f}s")
            print_banner(out, services, platform, broker_desc)
            while not signals.requested:
                if keeper is not None:
                    keeper.check()
                sup.check()
                time.sleep(0.2)
            raise ShutdownRequested(signals.first or signal.SIGTERM)
        except ShutdownRequested:
            out.info(f"{signals.name} received: stopping (timeout {args.stop_timeout:g}s)")
            return 0
        except (StartupError, BrokerError) as exc:
            out.error(str(exc))
            return 1
        except ValidationError as exc:
            out.error(f"invalid settings in the environment:\n{exc}")
            return 2
        finally:
            sup.stop_all()
            if broker is not None:
                out.info("stopping the broker")
                broker.stop()
            if mail is not None:
                mail.stop()
            restarts = dict(sup.restarts)
            if keeper is not None and keeper.restarts:
                restarts["broker"] = keeper.restarts
            more = f"; {signals.count - 1} more signal(s) ignored" if signals.count > 1 else ""
            out.info(f"stopped; restarts: {describe_restarts(restarts)}{more}")


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--simulate-departments",
        action="store_true",
        help="also run the department-system simulator once the services are ready",
    )
    parser.add_argument(
        "--simulate-options",
        default="",
        metavar="OPTIONS",
        help="options for the simulator, e.g. '--delay 0.5 --supplement 0' "
        "(see `python -m services simulate-departments --help`)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        help="also post a stream of sample projects (`python -m services submit-samples`)",
    )
    parser.add_argument(
        "--no-broker",
        action="store_true",
        help="do not start the embedded broker: one already runs on KAFKA_BOOTSTRAP_SERVERS "
        "or BROKER_PORT (e.g. `python -m services broker`)",
    )
    parser.add_argument(
        "--ready-timeout", type=float, default=90.0, help="seconds to wait for /readyz (90)"
    )
    parser.add_argument(
        "--stop-timeout",
        type=float,
        default=DEFAULT_STOP_TIMEOUT_S,
        help=f"seconds before SIGKILL on stop ({DEFAULT_STOP_TIMEOUT_S:g}: a service may take "
        f"{SERVICE_SHUTDOWN_S:g}s)",
    )
    parser.set_defaults(func=run_up)
