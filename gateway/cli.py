"""`parley serve | sandbox | migrate | schema`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from importlib.metadata import PackageNotFoundError, version

from sandboxes import load_sandbox, sandbox_names

from .logs import LEVELS as LOG_LEVELS
from .logs import configure as configure_logging
from .logs import redact
from .settings import DEFAULT_HOST, DEFAULT_PORT

GRACEFUL_SHUTDOWN_SECONDS = 2
from .migrate import cli as migrate_cli

EXAMPLE_QUERY = '{ conversations(first: 3) { edges { node { id topic status customer { name } lastMessage { text } } } } }'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parley", description="One GraphQL Conversation API over chat vendors.")
    parser.add_argument("--version", action="version", version=f"parley {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    defaults = argparse.ArgumentDefaultsHelpFormatter
    serve = commands.add_parser("serve", formatter_class=defaults,
                                help="run the gateway (embedded sandboxes when no provider is configured)")
    serve.add_argument("--config", help="parley.toml to read (default: PARLEY_CONFIG, else ./parley.toml when present)")
    serve.add_argument("--host", help=f"address to bind (default: PARLEY_HOST, server.host, else {DEFAULT_HOST})")
    serve.add_argument("--port", type=int, help=f"port to bind (default: PARLEY_PORT, server.port, else {DEFAULT_PORT})")
    serve.add_argument("--workers", type=int, default=1, help="processes; more than one needs configured providers and a bus_url")
    serve.add_argument("--log-level", choices=LOG_LEVELS,
                       help="what the gateway and the server log (default: PARLEY_LOG_LEVEL, server.log_level, else info)")
    sandbox = commands.add_parser("sandbox", formatter_class=defaults, help="run one vendor's sandbox on its own")
    sandbox.add_argument("vendor", choices=sandbox_names())
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind")
    sandbox.add_argument("--port", type=int, help="port to bind (default: the sandbox's own: "
                         + ", ".join(f"{name} {load_sandbox(name).DEFAULT_PORT}" for name in sandbox_names()) + ")")
    sandbox.add_argument("--demo", type=int, default=36, help="demo conversations to seed")
    sandbox.add_argument("--webhook-url", help="where to POST the vendor's webhooks")
    sandbox.add_argument("--latency-ms", type=int, default=0, help="delay before each vendor API request (not /_sandbox)")
    sandbox.add_argument("--log-level", choices=LOG_LEVELS, default="warning", help="what the sandbox and the server log")
    commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    migrate_cli.add_parser(commands)
    args = parser.parse_args(argv)
    return {"serve": _serve, "sandbox": _sandbox, "schema": _schema, "migrate": migrate_cli.run}[args.command](args)


def _version() -> str:
    try:
        return version("parley")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def _bad_setting(message: object) -> int:
    print(f"parley: bad setting: {redact(str(message))}", file=sys.stderr)  # a URL in it may carry a password
    return 2


def _serve(args: argparse.Namespace) -> int:
    from . import serving, tuning
    from .app import create_app
    from .embedded import embedded_vendor_names
    from .metrics import serve_on_port as serve_metrics
    from .settings import SettingsError, check_exposure, load_settings

    if args.config:
        if not os.path.exists(args.config):
            return _bad_setting(f"--config: no such file {args.config!r}")
        os.environ["PARLEY_CONFIG"] = args.config  # read by the settings, here and in every worker
    if args.log_level:
        os.environ["PARLEY_LOG_LEVEL"] = args.log_level  # the flag wins, here and in every worker
    try:
        settings = load_settings()
    except SettingsError as exc:
        return _bad_setting(exc)
    log_level = settings.operations.log_level
    configure_logging(log_level)
    host, port = args.host or settings.host, args.port or settings.port
    try:
        check_exposure(settings, host)
    except SettingsError as exc:
        return _bad_setting(exc)
    if args.workers > 1 and settings.embedded:
        print("parley: --workers needs configured providers: embedded sandboxes live in one process", file=sys.stderr)
        return 2
    if settings.bus_url is not None:
        from .events import BusUnavailable
        from .redis_bus import check

        try:
            asyncio.run(check(settings.bus_url))
        except BusUnavailable as exc:
            return _bad_setting(f"PARLEY_BUS_URL / server.bus_url: {exc}")
    if args.workers > 1 and settings.bus_url is None:
        print(f"parley: {args.workers} workers, each with its own event bus: a subscription receives the webhooks and "
              "mutations that reach its own worker only; set PARLEY_BUS_URL (Redis) to share one", file=sys.stderr)
    names = ", ".join(p.name for p in settings.providers) or f"embedded sandboxes ({', '.join(embedded_vendor_names())})"
    announce = serving.announce_lines(
        f"Parley GraphQL on http://{host}:{port}/graphql  (providers: {names})",
        "Try:",
        f"  curl -s http://{host}:{port}/graphql -H 'content-type: application/json' \\",
        f"       -d '{{\"query\": \"{EXAMPLE_QUERY}\"}}'",
    )
    with _metrics_files(args.workers):
        metrics_port = settings.operations.metrics_port
        if metrics_port is not None:
            try:
                serve_metrics(host, metrics_port)
            except OSError as exc:
                return _bad_setting(f"PARLEY_METRICS_PORT / server.metrics_port: cannot listen on {host}:{metrics_port} ({exc.strerror})")
        tuning.enable()  # each worker's app_from_env does the same
        app = "gateway.app:app_from_env" if args.workers > 1 else create_app(settings)
        return serving.run(app, announce=announce, factory=args.workers > 1, host=host, port=port, workers=args.workers,
                           log_level=log_level, log_config=None, access_log=False,  # logging is gateway.logs'
                           timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
                           ws_per_message_deflate=False)  # a zlib state per socket costs more than it saves


@contextlib.contextmanager
def _metrics_files(workers: int) -> Iterator[None]:
    """With several workers, a fresh directory where each writes its metrics (prometheus-client's
    multi-process mode), removed when they have stopped; a PROMETHEUS_MULTIPROC_DIR already set is
    used as it is."""
    from .metrics import MULTIPROCESS_VARIABLE

    if workers < 2 or os.environ.get(MULTIPROCESS_VARIABLE):
        yield
        return
    directory = tempfile.mkdtemp(prefix="parley-metrics-")
    os.environ[MULTIPROCESS_VARIABLE] = directory  # before the workers start: they read it at import
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_VARIABLE]
        shutil.rmtree(directory, ignore_errors=True)


def _sandbox(args: argparse.Namespace) -> int:
    from sandboxes.kit import with_latency

    from . import serving

    if args.latency_ms < 0:
        print("parley: --latency-ms must not be negative", file=sys.stderr)
        return 2
    sandbox = load_sandbox(args.vendor)
    port = args.port or sandbox.DEFAULT_PORT
    app = with_latency(sandbox.create_app(demo_conversations=args.demo, webhook_url=args.webhook_url), args.latency_ms)
    configure_logging(args.log_level)
    announce = serving.announce_lines(f"{args.vendor} sandbox on http://{args.host}:{port}/  ({sandbox.AUTH_HINT})")
    return serving.run(app, announce=announce, host=args.host, port=port, log_level=args.log_level, log_config=None)


def _schema(_: argparse.Namespace) -> int:
    from .schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
