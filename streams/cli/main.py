"""``policyguard``: demo, worker, replay, roster load, customer, produce, schemas."""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from schemas.export import CHECKED_IN_DIR
from streams import __version__
from streams.settings import (
    SECTIONS,
    SETTINGS_FILE_VARIABLE,
    Settings,
    SettingsError,
    env_name,
    setting_paths,
    settings_errors,
)

T = TypeVar("T")


def _demo(args: argparse.Namespace) -> int:
    from streams.demo.run import run_demo

    return run_demo(Settings(), serve=args.serve, timeout_s=args.timeout)


def _worker(args: argparse.Namespace) -> int:
    from streams.worker import run_worker

    return run_worker(Settings())


def _replay(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from streams.core.crosspolicy.roster import RosterFileError
    from streams.core.rules_config import RulesConfigError
    from streams.cross_runner import build_runner
    from streams.replay import REPLAY_FILES, ReplayInputError, check_paths, replay
    from streams.rules_file import load_ruleset

    def progress(count: int) -> None:
        print(f"  … {count} records", file=sys.stderr, flush=True)

    try:
        settings = Settings()
        ruleset = load_ruleset(args.rules if args.rules is not None else settings.rules_file)
        check_paths([Path(f) for f in args.files], Path(args.out))
        if settings.redis_url and settings.hash_secret is None:
            print("policyguard replay: REDIS_URL is set but POLICYGUARD_HASH_SECRET is not: replay would index "
                  "with the development key; set the workers' key, or unset REDIS_URL for an in-process index",
                  file=sys.stderr)
            return 2
        summary = replay([Path(f) for f in args.files], Path(args.out), ruleset=ruleset,
                         detection=settings.detection, progress=progress,
                         cross=build_runner(settings, in_process=True),
                         roster=Path(args.roster) if args.roster is not None else None)
    except ReplayInputError as exc:
        print(f"policyguard replay: {exc}", file=sys.stderr)
        return 2
    except (OSError, RulesConfigError, RosterFileError) as exc:
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
        print(f"policyguard replay: {reason}", file=sys.stderr)
        return 2
    except RedisError as exc:
        print(f"policyguard replay: Redis at REDIS_URL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if summary.roster is not None:
        where = "into Redis" if settings.redis_url else "for this replay"
        _print_roster(f"roster {args.roster} loaded {where}", summary.roster)
    outcomes = ", ".join(f"{k} {summary.outcomes[k]}" for k in ("clean", "clean_with_warnings", "quarantined"))
    if summary.duplicates:
        outcomes += f", duplicates skipped {summary.duplicates} (the same event_id and bytes seen before)"
    print(f"replayed {summary.records} records from {len(args.files)} file(s): {outcomes}")
    if summary.reasons:
        print("quarantine reasons: " + ", ".join(f"{k} {v}" for k, v in sorted(summary.reasons.items())))
    if summary.blank_lines:
        print(f"skipped {summary.blank_lines} blank line(s)")
    if summary.cross_skipped:
        print(f"cross-policy checks skipped for {summary.cross_skipped} events: the customer index (Redis) "
              "stayed unavailable")
    for name in REPLAY_FILES.values():
        print(f"  {Path(args.out) / name}: {summary.written[name]} records")
    return 0


def _audit(args: argparse.Namespace) -> int:
    from streams.audit.runner import AuditInputError, audit
    from streams.core.rules_config import RulesConfigError

    settings = Settings()
    tty = sys.stderr.isatty()

    def progress(line: str) -> None:
        print(("\r  " if tty else "  ") + line, end="" if tty else "\n", file=sys.stderr, flush=True)

    store = None
    if settings.redis_url:
        store = _redis_store(settings, "audit")
        if store is None:
            return 2
    try:
        result = audit([Path(f) for f in args.files], Path(args.out), rules_file=args.rules or settings.rules_file,
                       secret=settings.secret(), workers=args.workers, chunk_rows=args.chunk_rows, resume=args.resume,
                       roster=Path(args.roster) if args.roster else None, store=store,
                       config=settings.cross_policy, progress=progress)
    except (AuditInputError, RulesConfigError) as exc:
        print(f"policyguard audit: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"policyguard audit: {exc.strerror}: {exc.filename}", file=sys.stderr)
        return 2
    if tty:
        print(file=sys.stderr)
    tally = result.tally
    out = Path(args.out)
    resumed = f" (resumed after row {result.resumed_from:,})" if result.resumed_from else ""
    print(f"audited {tally.rows:,} rows in {result.seconds:,.1f} s{resumed}: {tally.policies:,} policies, "
          f"{tally.defective:,} to correct ({tally.rate():.2%}; 2014 inspection 4.02%), {tally.bad_rows:,} bad rows")
    if tally.cross:
        print("cross-policy alerts: " + ", ".join(f"{k} {v:,}" for k, v in sorted(tally.cross.items())))
    for name in ("summary.html", "summary.json", "findings.jsonl", "commission_holds.csv", "alerts.jsonl",
                 "bad_rows.jsonl"):
        print(f"  {out / name}")
    print(f"  {out / 'worklists'}/<channel>/<branch>.csv")
    return 0


BRIDGE_HOST = "127.0.0.1"
"""Loopback: the bridge is reached by an Alertmanager beside it unless ``--listen`` says otherwise."""
BRIDGE_LISTEN = f"{BRIDGE_HOST}:9099"
BRIDGE_TOKEN_MIN_CHARS = 16


def _dingtalk_bridge(args: argparse.Namespace) -> int:
    from streams.alerting.dingtalk import serve
    from streams.logs import setup_logging

    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    if settings.dingtalk_webhook is None:
        print("policyguard dingtalk-bridge: POLICYGUARD_DINGTALK_WEBHOOK is not set (the robot's webhook URL)",
              file=sys.stderr)
        return 2
    token = settings.dingtalk_bridge_token.get_secret_value() if settings.dingtalk_bridge_token else ""
    if len(token) < BRIDGE_TOKEN_MIN_CHARS:
        state = "is not set" if not token else f"is shorter than {BRIDGE_TOKEN_MIN_CHARS} characters"
        print(f"policyguard dingtalk-bridge: POLICYGUARD_DINGTALK_BRIDGE_TOKEN {state}: the bridge only takes "
              "requests with Authorization: Bearer <token>, so that nobody else can post to the on-call group; set "
              "it (e.g. openssl rand -hex 32) and give Alertmanager the same token "
              "(webhook_configs: http_config: authorization: credentials_file)", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    try:
        server = serve(host or BRIDGE_HOST, int(port), settings.dingtalk_webhook.get_secret_value(),
                       settings.dingtalk_secret.get_secret_value() if settings.dingtalk_secret else None, token=token)
    except (OSError, ValueError) as exc:
        print(f"policyguard dingtalk-bridge: cannot listen on {args.listen}: {exc}", file=sys.stderr)
        return 2
    print(f"dingtalk-bridge: POST Alertmanager webhooks to http://{args.listen}/alertmanager", file=sys.stderr)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


def _redis_store(settings: Settings, command: str):
    from streams.redis_store import RedisStore

    if not settings.redis_url:
        print(f"policyguard {command}: REDIS_URL is not set (the customer index lives in Redis)", file=sys.stderr)
        return None
    if settings.hash_secret is None:
        print(f"policyguard {command}: POLICYGUARD_HASH_SECRET is not set (the key the workers hash with)",
              file=sys.stderr)
        return None
    return RedisStore.from_url(settings.redis_url, settings.cross_policy, prefix=settings.redis_prefix,
                               timeout_s=max(settings.redis_timeout_s, 5.0))


def _on_store(store: Any, work: Coroutine[Any, Any, T]) -> T:
    """Run one piece of work on a Redis store, closing it whatever happens."""
    async def run() -> T:
        try:
            return await work
        finally:
            await store.close()

    return asyncio.run(run())


def _print_roster(heading: str, roster: Any) -> None:
    """A roster file's counts, then each rejected line with its number and why (never its phone)."""
    print(f"{heading}: {roster.summary()}")
    for problem in roster.rejected:
        print(f"  rejected {problem}")


def _roster_load(args: argparse.Namespace) -> int:
    from redis.exceptions import RedisError

    from streams.core.crosspolicy import Hasher
    from streams.core.crosspolicy.roster import RosterFileError
    from streams.roster_file import load_roster_file

    settings = Settings()
    store = _redis_store(settings, "roster load")
    if store is None:
        return 2

    try:
        roster = _on_store(store, load_roster_file(Path(args.file), Hasher(settings.secret()), store,
                                                   allow_empty=args.allow_empty))
    except (OSError, RosterFileError) as exc:
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.filename else str(exc)
        print(f"policyguard roster load: {args.file}: {reason}", file=sys.stderr)
        return 2
    except RedisError as exc:
        print(f"policyguard roster load: Redis at REDIS_URL: {type(exc).__name__}: {exc}; the roster is unchanged",
              file=sys.stderr)
        return 2
    _print_roster("roster loaded", roster)
    return 0


def _id_number_in() -> str:
    """The ID number to look up: one line of standard input, or, when that is a terminal, typed at a
    prompt that does not echo it. Never an argument: ``ps`` shows arguments to every user of the
    machine, and the shell history keeps them."""
    import getpass

    if sys.stdin is not None and sys.stdin.isatty():
        try:
            return getpass.getpass("ID number (not shown): ", stream=sys.stderr)
        except EOFError:
            return ""
    return sys.stdin.readline().strip() if sys.stdin is not None else ""


def _customer(args: argparse.Namespace) -> int:
    import json

    from redis.exceptions import RedisError

    from schemas.text import id_number
    from streams.core.crosspolicy import Hasher
    from streams.customer_view import look_up, operator_note, os_user
    from streams.logs import setup_logging

    if args.id_no is not None:
        print("policyguard customer: the ID number is not taken as an argument: there `ps` shows it to every user "
              "of the machine and the shell history keeps it. Give it on standard input (one line) or type it at "
              "the prompt: `policyguard customer`", file=sys.stderr)
        return 2
    try:
        note = operator_note(args.operator)
    except ValueError as exc:
        print(f"policyguard customer: --operator: {exc}", file=sys.stderr)
        return 2
    settings = Settings()
    setup_logging(settings.log_level, settings.log_format)
    id_no = id_number(_id_number_in())
    if not isinstance(id_no, str) or not id_no:
        print("policyguard customer: no ID number given (one line on standard input, or typed at the prompt)",
              file=sys.stderr)
        return 2
    store = _redis_store(settings, "customer")
    if store is None:
        return 2

    try:
        view = _on_store(store, look_up(store, Hasher(settings.secret()), args.id_type, id_no, os_user(), note=note,
                                        retention_days=settings.access_trail_retention_days))
    except RedisError as exc:
        print(f"policyguard customer: Redis at REDIS_URL: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(view.as_json(), ensure_ascii=False, indent=2))
    else:
        print("\n".join(view.lines()))
    return 0


def _produce(args: argparse.Namespace) -> int:
    from streams.produce import lines_of, publish

    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        print("policyguard produce: KAFKA_BOOTSTRAP_SERVERS is not set", file=sys.stderr)
        return 2
    try:
        values = lines_of(Path(args.file))
    except OSError as exc:
        print(f"policyguard produce: {exc}", file=sys.stderr)
        return 2
    published = asyncio.run(publish(settings.kafka_bootstrap_servers, args.topic, values))
    print(f"published {len(published)} records to {args.topic}")
    return 0


def _schemas(args: argparse.Namespace) -> int:
    from schemas.export import write

    for path in write(Path(args.out)):
        print(path)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="policyguard",
        description="Streaming validator that keeps life-insurance customer information true.",
    )
    root.add_argument("--version", action="version", version=f"policyguard {__version__}")
    root.add_argument("--settings", metavar="FILE",
                      help=f"TOML settings file (sets {SETTINGS_FILE_VARIABLE}); the environment overrides it")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="run the whole pipeline on an embedded broker with a built-in scenario",
        description="Starts a local Kafka-compatible broker (tansu) and Redis unless KAFKA_BOOTSTRAP_SERVERS / "
        "REDIS_URL are set, creates the topics, runs a worker, publishes a built-in scenario and prints what "
        "became of every event. Exits 0 once every input is accounted for.",
    )
    demo.add_argument("--serve", action="store_true", help="keep the broker, Redis and worker running until Ctrl-C")
    demo.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for all results (default 150)")
    demo.set_defaults(run=_demo)

    worker = commands.add_parser(
        "worker",
        help="run a production worker",
        description="Consumes the input topics of KAFKA_BOOTSTRAP_SERVERS and writes clean, quarantine, alert and "
        "commission records. Settings come from the environment, over an optional TOML settings file "
        f"(--settings FILE or {SETTINGS_FILE_VARIABLE}) with the same names in lower case, a section as a table "
        "(e.g. [detection] arrival_grace_s = 600):",
        epilog=settings_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    worker.set_defaults(run=_worker)

    replay = commands.add_parser(
        "replay",
        help="run the pipeline over JSON Lines files without a broker",
        description="Judges every line of FILE... in order (the event type decides the stream) and writes "
        "alerts.jsonl, quarantine.jsonl, commission.jsonl, policy-events.clean.jsonl and "
        "endorsement-events.clean.jsonl to --out.",
    )
    replay.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines input, one event per line")
    replay.add_argument("--out", required=True, metavar="DIR", help="directory for the five output files")
    replay.add_argument("--rules", metavar="FILE", help="rules configuration (TOML); default: POLICYGUARD_RULES_FILE")
    replay.add_argument("--roster", metavar="FILE",
                        help="staff / agent roster (CSV user_id,role,mobile[,id_no]) for STAFF_PHONE_AS_CUSTOMER; "
                        "with REDIS_URL set it replaces the roster in Redis, as `roster load` does")
    replay.set_defaults(run=_replay)

    roster = commands.add_parser(
        "roster", help="manage the staff / agent roster in the customer index",
        description="The staff and agents whose own mobiles and ID numbers must never be entered as a customer's "
        "(STAFF_PHONE_AS_CUSTOMER). `roster load FILE` replaces the roster the workers check against; load it "
        "again after Redis lost its data (the workers wait for it, policyguard_cross_policy_roster_missing).")
    roster_commands = roster.add_subparsers(dest="roster_command", required=True, metavar="ACTION",
                                            help="load: replace the roster from a CSV file")
    roster_load = roster_commands.add_parser(
        "load",
        help="load or replace the roster from a CSV file",
        description="Reads FILE (CSV with header user_id,role,mobile and an optional id_no column), checks every "
        "line, and replaces the roster in Redis (REDIS_URL) in one step: readers see the old roster or the new one. "
        "Only keyed hashes of mobiles and ID numbers are stored (POLICYGUARD_HASH_SECRET). Prints the counts and "
        "each rejected line with the reason.",
    )
    roster_load.add_argument("file", metavar="FILE", help="roster CSV")
    roster_load.add_argument("--allow-empty", action="store_true",
                             help="accept a file with no usable line, clearing the roster (refused otherwise, exit 2)")
    roster_load.set_defaults(run=_roster_load)

    customer = commands.add_parser(
        "customer",
        help="one customer's view across channels (PII masked; each use is logged with the caller)",
        description="Reads an ID number from standard input (one line), or asks for it without echo when standard "
        "input is a terminal (never from the command line, where ps and the shell history would show it), and looks "
        "it up in the customer index (REDIS_URL): the customer's policies with their channels and roles, "
        "conflicting names / birth dates / genders between policies, and the cross-policy alerts about them. The ID "
        "number is shown masked; the use is logged and kept in the index's access trail with the OS user running "
        "the command, for POLICYGUARD_ACCESS_TRAIL_RETENTION_DAYS (default 1095).",
    )
    customer.add_argument("id_no", nargs="?", help=argparse.SUPPRESS)  # only to refuse it, saying why
    customer.add_argument("--id-type", default="RESIDENT_ID", metavar="TYPE",
                          help="ID type of the number (default RESIDENT_ID)")
    customer.add_argument("--operator", metavar="NOTE",
                          help="a note kept beside the OS user in the log and the access trail (your name, a case "
                          "number; no customer data); it never replaces the OS user")
    customer.add_argument("--json", action="store_true", help="print the view as JSON")
    customer.set_defaults(run=_customer)

    audit = commands.add_parser(
        "audit",
        help="the historical clean-up (清查) of a whole book of policy snapshots",
        description="Judges every policy snapshot of FILE... (JSON Lines of PolicyEvents, or CSV exports: see the "
        "README for the columns) with the worker's rules on every core, then the cross-policy checks over the whole "
        "book, and writes findings.jsonl, worklists/<channel>/<branch>.csv, commission_holds.csv, alerts.jsonl, "
        "bad_rows.jsonl, summary.json and summary.html to --out.",
    )
    audit.add_argument("files", nargs="+", metavar="FILE", help="JSON Lines (.jsonl) or CSV (.csv) export")
    audit.add_argument("--out", required=True, metavar="DIR", help="directory for the report and worklists")
    audit.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes (default: one per core)")
    audit.add_argument("--resume", action="store_true",
                       help="go on from the last checkpoint of an interrupted run into the same --out")
    audit.add_argument("--rules", metavar="FILE", help="rules configuration (TOML); default: POLICYGUARD_RULES_FILE")
    audit.add_argument("--roster", metavar="FILE", help="staff roster CSV for STAFF_PHONE_AS_CUSTOMER")
    audit.add_argument("--chunk-rows", type=int, default=2_000, metavar="N",
                       help="rows per unit of work and per checkpoint (default 2000)")
    audit.set_defaults(run=_audit)

    bridge = commands.add_parser(
        "dingtalk-bridge",
        help="forward Alertmanager notifications to a DingTalk robot, signed",
        description="Receives Alertmanager webhooks at POST /alertmanager and sends each notification to the DingTalk "
        "custom robot of POLICYGUARD_DINGTALK_WEBHOOK as a markdown message, signed with POLICYGUARD_DINGTALK_SECRET "
        "(the robot's 加签 secret) when set. Every request must carry Authorization: Bearer "
        "<POLICYGUARD_DINGTALK_BRIDGE_TOKEN> (401 otherwise; without the setting the bridge does not start, exit 2) "
        "and a body of at most 1 MiB (413). Answers 502 when DingTalk refuses, so Alertmanager retries.",
    )
    bridge.add_argument("--listen", default=BRIDGE_LISTEN, metavar="HOST:PORT",
                        help=f"address to receive Alertmanager webhooks on (default {BRIDGE_LISTEN}, loopback; "
                        "0.0.0.0:PORT for every interface, e.g. in a container)")
    bridge.set_defaults(run=_dingtalk_bridge)

    produce = commands.add_parser(
        "produce",
        help="publish a JSON Lines file to a topic, keyed by policy_no",
        description="Sends each non-blank line as it is (bad lines included) to --topic on KAFKA_BOOTSTRAP_SERVERS.",
    )
    produce.add_argument("file", metavar="FILE", help="JSON Lines file; each non-blank line is one record")
    produce.add_argument("--topic", required=True, metavar="T",
                         help="topic to publish to, e.g. policy-events or endorsement-events")
    produce.set_defaults(run=_produce)

    schemas = commands.add_parser(
        "schemas",
        help="write the JSON Schemas of every input and output record",
        description="Writes one <record>.schema.json per record, generated from the pydantic models.",
    )
    schemas.add_argument("--out", default=str(CHECKED_IN_DIR), metavar="DIR",
                         help="directory for the schema files (default: the package's schemas/json, "
                         "which `make schemas` refreshes)")
    schemas.set_defaults(run=_schemas)
    return root


def settings_help() -> str:
    """Every environment variable of the settings model, with its default and meaning."""
    lines = []
    for path, field in setting_paths():
        default = field.get_default(call_default_factory=True)
        shown = "unset" if default is None else (default.value if hasattr(default, "value") else default)
        if isinstance(shown, dict):
            shown = "the contract's schedule"
        elif isinstance(shown, frozenset):
            shown = ",".join(sorted(shown))
        meaning = f"  {field.description}" if field.description else ""
        lines.append(f"  {env_name(*path)} (default: {shown}){meaning}")
    sections = ", ".join(env_name(section) for section in SECTIONS)
    lines.append(f"  ({sections}: a whole section as one JSON object)")
    return "environment:\n" + "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.settings is not None:
        os.environ[SETTINGS_FILE_VARIABLE] = args.settings  # children (workers of the demo, the audit) read it too
    try:
        return int(args.run(args))
    except ValidationError as exc:
        if exc.title != Settings.__name__:
            raise
        print(f"policyguard {args.command}: bad setting: " + "; ".join(settings_errors(exc)), file=sys.stderr)
        return 2
    except SettingsError as exc:
        print(f"policyguard {args.command}: bad setting: " + "; ".join(exc.lines), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
