"""`parley serve | sandbox | migrate | schema`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from sandboxes import load_sandbox, sandbox_names

from .migrate import cli as migrate_cli

EXAMPLE_QUERY = '{ conversations(first: 3) { edges { node { id topic status customer { name } lastMessage { text } } } } }'


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="parley", description="One GraphQL Conversation API over chat vendors.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gateway (embedded sandboxes when no provider is configured)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int, default=1)
    sandbox = commands.add_parser("sandbox", help="run one vendor's sandbox on its own")
    sandbox.add_argument("vendor", choices=sandbox_names())
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, help="default: the sandbox's own port (socialboards 8101, infobip 8102, clevertap 8103)")
    sandbox.add_argument("--demo", type=int, default=36, help="demo conversations to seed")
    sandbox.add_argument("--webhook-url", help="where to POST the vendor's webhooks")
    sandbox.add_argument("--latency-ms", type=int, default=0, help="delay before each vendor API request (not /_sandbox)")
    commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    migrate_cli.add_parser(commands)
    args = parser.parse_args(argv)
    return {"serve": _serve, "sandbox": _sandbox, "schema": _schema, "migrate": migrate_cli.run}[args.command](args)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from .app import create_app
    from .embedded import embedded_vendor_names
    from .settings import SettingsError, check_exposure, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"parley: bad setting: {exc}", file=sys.stderr)
        return 2
    host, port = args.host or settings.host, args.port or settings.port
    try:
        check_exposure(settings, host)
    except SettingsError as exc:
        print(f"parley: bad setting: {exc}", file=sys.stderr)
        return 2
    if args.workers > 1 and settings.embedded:
        print("parley: --workers needs configured providers: embedded sandboxes live in one process", file=sys.stderr)
        return 2
    if settings.bus_url is not None:
        from .events import BusUnavailable
        from .redis_bus import check

        try:
            asyncio.run(check(settings.bus_url))
        except BusUnavailable as exc:
            print(f"parley: bad setting: PARLEY_BUS_URL / server.bus_url: {exc}", file=sys.stderr)
            return 2
    if args.workers > 1 and settings.bus_url is None:
        print(f"parley: {args.workers} workers, each with its own event bus: a subscription receives the webhooks and "
              "mutations that reach its own worker only; set PARLEY_BUS_URL (Redis) to share one", file=sys.stderr)
    names = ", ".join(p.name for p in settings.providers) or f"embedded sandboxes ({', '.join(embedded_vendor_names())})"
    print(f"Parley GraphQL on http://{host}:{port}/graphql  (providers: {names})")
    print("Try:")
    print(f"  curl -s http://{host}:{port}/graphql -H 'content-type: application/json' \\")
    print(f"       -d '{{\"query\": \"{EXAMPLE_QUERY}\"}}'")
    sys.stdout.flush()
    if args.workers > 1:
        uvicorn.run("gateway.app:app_from_env", factory=True, host=host, port=port, workers=args.workers,
                    log_level="warning", timeout_graceful_shutdown=10)
    else:
        uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", timeout_graceful_shutdown=10)
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    import uvicorn

    from sandboxes.kit import with_latency

    if args.latency_ms < 0:
        print("parley: --latency-ms must not be negative", file=sys.stderr)
        return 2
    sandbox = load_sandbox(args.vendor)
    port = args.port or sandbox.DEFAULT_PORT
    app = with_latency(sandbox.create_app(demo_conversations=args.demo, webhook_url=args.webhook_url), args.latency_ms)
    print(f"{args.vendor} sandbox on http://{args.host}:{port}/  ({sandbox.AUTH_HINT})")
    sys.stdout.flush()
    uvicorn.run(app, host=args.host, port=port, log_level="warning")
    return 0


def _schema(_: argparse.Namespace) -> int:
    from .schema import schema

    sys.stdout.write(schema.as_str() + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
