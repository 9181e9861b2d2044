"""`optimum-conformance hub serve`: run the embedded Hub standalone until Ctrl-C / SIGTERM.

Prints exactly one line on stdout, ``ready http://HOST:PORT``, once requests are accepted;
request logs (tokens masked, headers never printed) go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from .auth import DEFAULT_USER, new_token, parse_token_spec
from .handle import ENV_ADMIN_TOKEN
from .server import HubServer, is_loopback


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (loopback unless --allow-remote)"
    )
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--data", metavar="DIR", default=None, help="data directory (default: a temp dir)")
    parser.add_argument(
        "--token",
        action="append",
        default=[],
        metavar="TOKEN",
        help=f"'user:token', or a bare token for user '{DEFAULT_USER}'; repeatable",
    )
    parser.add_argument(
        "--admin-token",
        default=os.environ.get(ENV_ADMIN_TOKEN),
        help=f"enables the /_conformance/ control endpoint (default: ${ENV_ADMIN_TOKEN}, else disabled)",
    )
    parser.add_argument("--regular-only", action="store_true", help="answer every upload as regular (no LFS)")
    parser.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    parser.add_argument("--log-level", default="INFO", help="log level for stderr (default INFO)")


def run(args: argparse.Namespace) -> int:
    if not args.allow_remote and not is_loopback(args.host):
        print(f"error: refusing non-loopback --host {args.host!r} without --allow-remote", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    log = logging.getLogger("conformance.hub")
    try:
        users = [parse_token_spec(spec) for spec in args.token]
    except ValueError as exc:
        print(f"error: --token: {exc}", file=sys.stderr)
        return 2

    server = HubServer(
        args.data,
        host=args.host,
        port=args.port,
        admin_token=args.admin_token or None,
        regular_only=args.regular_only,
        allow_remote=args.allow_remote,
    )
    for user, token in users:
        server.add_user(user, token)
    if not users:
        # Writes need a token: make one, and put it in a private file rather than in the log.
        token = new_token()
        server.add_user(DEFAULT_USER, token)
        token_file = Path(server.data_dir) / "token"
        token_file.write_text(token + "\n")
        token_file.chmod(0o600)
        log.warning("no --token given: a token for user %r was written to %s", DEFAULT_USER, token_file)

    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        try:
            server.start()
        except OSError as exc:
            print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
            return 1
        print(f"ready {server.url}", flush=True)
        while not stop.wait(0.5):
            pass
        log.info("stopping")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
