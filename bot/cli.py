"""Command line: `python -m bot COMMAND`. Every command takes --config PATH."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

from bot.settings import ConfigError, Settings, load_settings

NO_TOKEN_HELP = """\
没有配置 Telegram 机器人令牌 (no bot token configured).
To run the real bot, open Telegram, talk to @BotFather, send /newbot and follow its questions; it
answers with a token like 123456789:AAF…. Keep it secret: do not write it into config.toml, but set
it in the environment, e.g. `export OPENDOOR_TELEGRAM__TOKEN=123456789:AAF…`, then `make run` again.
To see the whole product work offline without any token, run `make demo`: it starts a local Bot API
server and plays a resident and an officer through a complaint from submission to closure."""


def _parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)\s*([dhm])", text.strip().lower())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a duration like 72h, 3d or 30m, got {text!r}")
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Open-Door (开门评) feedback bot")
    parser.add_argument("--config", type=Path, default=None, help="path to config.toml")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run the bot (long polling, or --webhook)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates through Telegram's webhook on the web side ([telegram] webhook_url, webhook_path, "
        "webhook_secret) instead of long polling; run several such workers on one database behind a load balancer",
    )
    commands.add_parser("migrate", help="bring the database schema up to date")
    commands.add_parser("health", help="database, outbox backlog, due reminders and calendar coverage as JSON")
    invite = commands.add_parser("invite", help="print a one-time invite code for an officer, or revoke one")
    invite_target = invite.add_mutually_exclusive_group(required=True)
    invite_target.add_argument("--department")
    invite_target.add_argument("--revoke", metavar="CODE", help="make an unused code unusable")
    invite.add_argument("--role", default="officer", choices=["officer", "head", "supervisor", "admin"])
    invite.add_argument("--expires", type=_parse_duration, default=timedelta(hours=72), help="e.g. 72h, 3d")
    officer = commands.add_parser("officer", help="list officers or deactivate one")
    officer_action = officer.add_mutually_exclusive_group(required=True)
    officer_action.add_argument("--list", action="store_true")
    officer_action.add_argument("--deactivate", type=int, metavar="OFFICER_ID")
    classify = commands.add_parser("classify", help="classify a text and explain the decision")
    classify.add_argument("text")
    evaluate = commands.add_parser("eval-classifier", help="evaluate the classifier on a JSONL file")
    evaluate.add_argument("file", type=Path)
    train = commands.add_parser(
        "train-classifier", help="train a new model version from the training set; adopt it if not worse"
    )
    train.add_argument("--force", action="store_true", help="adopt the new model even if the check set says it is worse")
    vocabulary = commands.add_parser("vocabulary", help="export or import keywords and the user dictionary")
    vocabulary_action = vocabulary.add_mutually_exclusive_group(required=True)
    vocabulary_action.add_argument("--export", type=Path, metavar="FILE")
    vocabulary_action.add_argument("--import", dest="import_", type=Path, metavar="FILE")
    learn = commands.add_parser("retrain", help="retrain on the training set plus officers' corrections")
    learn.add_argument("--force", action="store_true", help="adopt the new model even if the check set says it is worse")
    commands.add_parser("demo", help="play the whole story offline against a local Bot API server")
    serve = commands.add_parser("web", help="serve the web side alone: dashboard, /health, Open311 GeoReport v2")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")
    web_user = commands.add_parser("web-user", help="dashboard accounts: add, passwd, disable, enable, list")
    web_user_action = web_user.add_subparsers(dest="action", required=True)
    add = web_user_action.add_parser("add", help="create a dashboard account (asks for the password twice)")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=["officer", "head", "supervisor", "admin"])
    add.add_argument("--department", required=True, help="a department code from [departments] in config.toml")
    add.add_argument("--name", default=None, help="name shown on the pages (default: the username)")
    passwd = web_user_action.add_parser("passwd", help="set a new password (unlocks and signs out everywhere)")
    passwd.add_argument("username")
    for action, purpose in (("disable", "sign out everywhere and refuse sign-ins"), ("enable", "allow sign-ins again")):
        web_user_action.add_parser(action, help=purpose).add_argument("username")
    web_user_action.add_parser("list", help="list the accounts")
    for command in (add, passwd):
        command.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    qr = commands.add_parser("qr", help="write the PNG QR code that opens a unit's appraisal (开门评警)")
    qr.add_argument("--unit", required=True, help="a unit code from [units] in config.toml")
    qr.add_argument("--out", type=Path, required=True, metavar="FILE.png")
    ledger = commands.add_parser("export-ledger", help="write the ledger (台账) as XLSX or CSV, everything included")
    ledger.add_argument("--format", choices=["xlsx", "csv"], default=None, help="default: from the file name")
    ledger.add_argument("--out", type=Path, required=True, metavar="FILE")
    ledger.add_argument("--from", dest="first", type=_parse_day, default=None, metavar="YYYY-MM-DD",
                        help="first local day of receipt (default: the beginning)")
    ledger.add_argument("--to", dest="last", type=_parse_day, default=None, metavar="YYYY-MM-DD",
                        help="last local day of receipt, included (default: today)")
    return parser


def _parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-22, got {text!r}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("httpx", "apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(error, file=sys.stderr)
        return 2
    command = args.command.replace("-", "_")
    return globals()[f"cmd_{command}"](settings, args)


def cmd_run(settings: Settings, args: argparse.Namespace) -> int:
    from bot.assembly import build_application, build_runtime

    if not settings.telegram.token.get_secret_value():
        print(NO_TOKEN_HELP, file=sys.stderr)
        return 2
    if args.webhook:
        return _run_webhook(settings)
    application = build_application(build_runtime(settings))
    application.run_polling(timeout=settings.telegram.poll_timeout_seconds)
    return 0


WEBHOOK_SETTINGS_HELP = """--webhook needs [telegram] webhook_url (the public HTTPS address Telegram posts to, e.g.
https://bot.example.gov.cn/telegram/webhook) and a secret: set OPENDOOR_TELEGRAM__WEBHOOK_URL and
OPENDOOR_TELEGRAM__WEBHOOK_SECRET (1-256 characters A-Z a-z 0-9 _ -, e.g. from `openssl rand -hex 32`)."""


def _run_webhook(settings: Settings) -> int:
    """One webhook worker, until SIGTERM or SIGINT."""
    import signal

    from bot.assembly import build_application, build_runtime, start_webhook, stop_webhook

    if not settings.telegram.webhook_url or not settings.telegram.webhook_secret.get_secret_value():
        print(WEBHOOK_SETTINGS_HELP, file=sys.stderr)
        return 2

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stopping.set)
        application = build_application(build_runtime(settings))
        try:
            await start_webhook(application)
            await stopping.wait()
        finally:
            await stop_webhook(application)

    asyncio.run(serve())
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    async def nothing_more(rt) -> None:  # type: ignore[no-untyped-def]
        """Preparing the runtime migrates the schema; that is all this command does."""

    _with_runtime(settings, nothing_more)
    print(f"database is up to date: {settings.database.url}")
    return 0


def cmd_health(settings: Settings, args: argparse.Namespace) -> int:
    from services.health import health

    report = _with_runtime(settings, health)
    print(json.dumps(report, ensure_ascii=False))
    return 0 if report["ok"] else 1


def _with_runtime(settings: Settings, work):  # type: ignore[no-untyped-def]
    """Runs `work(rt)` against a migrated database, for the administrative commands."""
    from bot.assembly import build_runtime, prepare_storage

    async def run():  # type: ignore[no-untyped-def]
        rt = build_runtime(settings)
        await prepare_storage(rt)
        try:
            return await work(rt)
        finally:
            await rt.db.dispose()

    return asyncio.run(run())


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    from services.officers import create_invite, revoke_invite

    if args.revoke:
        if not _with_runtime(settings, lambda rt: revoke_invite(rt, args.revoke)):
            print(f"no unused invite code {args.revoke!r}", file=sys.stderr)
            return 2
        print(f"revoked {args.revoke}")
        return 0
    try:
        code = _with_runtime(settings, lambda rt: create_invite(rt, args.department, args.role, args.expires))
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(code)
    print(
        f"one-time code for department {args.department!r}, role {args.role!r}, valid for {args.expires}; "
        f"the officer sends: /register {code}",
        file=sys.stderr,
    )
    return 0


def cmd_officer(settings: Settings, args: argparse.Namespace) -> int:
    from services.officers import deactivate_officer, list_officers

    if args.deactivate is not None:
        officer = _with_runtime(settings, lambda rt: deactivate_officer(rt, args.deactivate))
        if officer is None:
            print(f"no officer with id {args.deactivate}", file=sys.stderr)
            return 2
        print(f"deactivated {officer.id} {officer.display_name} ({officer.department_code}, {officer.role})")
        return 0
    for officer in _with_runtime(settings, list_officers):
        state = "active" if officer.active else "inactive"
        print(f"{officer.id}\t{officer.display_name}\t{officer.department_code}\t{officer.role}\t{state}")
    return 0


def cmd_web_user(settings: Settings, args: argparse.Namespace) -> int:
    from services.web_accounts import AccountError, add_user, list_users, set_active, set_password

    if args.action == "list":
        for user in _with_runtime(settings, list_users):
            state = "active" if user.active else "disabled"
            last = user.last_login_at.isoformat(timespec="minutes") if user.last_login_at else "-"
            print(f"{user.username}\t{user.display_name}\t{user.role}\t{user.department_code}\t{state}\tlast sign-in {last}")
        return 0
    try:
        if args.action == "add":
            password = _new_password(args.password_stdin)
            _with_runtime(
                settings,
                lambda rt: add_user(rt, args.username, password, role=args.role, department=args.department, display_name=args.name),
            )
        elif args.action == "passwd":
            password = _new_password(args.password_stdin)
            _with_runtime(settings, lambda rt: set_password(rt, args.username, password))
        else:
            _with_runtime(settings, lambda rt: set_active(rt, args.username, args.action == "enable"))
    except AccountError as error:
        from i18n import Texts

        print(Texts.load().get("zh", error.key, **error.params), file=sys.stderr)
        return 2
    except _PasswordMismatch:
        print("两次输入的密码不一致 / the passwords differ", file=sys.stderr)
        return 2
    print(f"{args.action}: {args.username}")
    return 0


class _PasswordMismatch(Exception):
    pass


def _new_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("新密码 / new password: ")
    if getpass.getpass("再输一次 / again: ") != first:
        raise _PasswordMismatch
    return first


def _classifier(settings: Settings):  # type: ignore[no-untyped-def]
    from services.learning import build_classifier

    return build_classifier(settings.classifier)


def cmd_qr(settings: Settings, args: argparse.Namespace) -> int:
    from reports.qr import unit_deep_link, unit_qr_png

    unit = settings.units.get(args.unit)
    if unit is None:
        known = ", ".join(settings.units) or "none"
        print(f"unknown unit {args.unit!r}; [units] in config.toml has: {known}", file=sys.stderr)
        return 2
    if not settings.telegram.bot_username:
        print("set telegram.bot_username (or OPENDOOR_TELEGRAM__BOT_USERNAME) to the bot's @username", file=sys.stderr)
        return 2
    try:
        png = unit_qr_png(settings.telegram.bot_username, args.unit, caption=unit.name)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    args.out.write_bytes(png)
    print(f"{args.out}: {unit_deep_link(settings.telegram.bot_username, args.unit)}")
    return 0


def cmd_classify(settings: Settings, args: argparse.Namespace) -> int:
    verdict = _classifier(settings).classify(args.text)
    print(
        json.dumps(
            {
                "category": verdict.category,
                "confidence": round(verdict.confidence, 4),
                "deciding_words": list(verdict.deciding_words),
                "scores": {k: round(v, 4) for k, v in verdict.scores.items()},
                "unit": verdict.unit,
                "model_version": verdict.model_version,
                "needs_triage": verdict.confidence < settings.routing.confidence_threshold,
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_eval_classifier(settings: Settings, args: argparse.Namespace) -> int:
    from domain.evaluation import evaluate, triage_figures

    try:
        lines = args.file.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        print(f"cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    gold: list[str] = []
    texts: list[str] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            texts.append(str(item["text"]))
            gold.append(str(item["label"]))
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            print(f"{args.file}:{number}: expected {{\"text\": …, \"label\": …}}: {error}", file=sys.stderr)
            return 2
    classifier = _classifier(settings)
    verdicts = [classifier.classify(text) for text in texts]
    predicted = [verdict.category for verdict in verdicts]
    confidences = [verdict.confidence for verdict in verdicts]
    threshold = settings.routing.confidence_threshold
    figures = evaluate(gold, predicted)
    at_threshold = triage_figures(gold, predicted, confidences, threshold)
    figures["threshold"] = threshold
    figures["triage_rate"] = at_threshold["triage_rate"]
    figures["auto_routed_accuracy"] = at_threshold["auto_routed_accuracy"]
    figures["model_version"] = classifier.model_version
    recommended = classifier.recommended_threshold
    if recommended != threshold:  # what the model's own cross-validated threshold would do
        figures["at_recommended_threshold"] = triage_figures(gold, predicted, confidences, recommended)
    print(json.dumps(figures, ensure_ascii=False))
    return 0


def cmd_train_classifier(settings: Settings, args: argparse.Namespace) -> int:
    """Trains on the seed set alone (no database); see `retrain` for learning from corrections."""
    from services.learning import retrain_classifier, summary

    print("training on the seed set …", file=sys.stderr)
    try:
        outcome = retrain_classifier(settings, [], force=args.force)
    except (OSError, ValueError) as error:
        print(error, file=sys.stderr)
        return 2
    print(json.dumps(summary(outcome, 0), ensure_ascii=False))
    return 0


def cmd_retrain(settings: Settings, args: argparse.Namespace) -> int:
    """Retrains on the seed set plus every correction officers made; adopts it only if not worse."""
    from services.learning import learn_from_corrections

    print("retraining on the seed set and the officers' corrections …", file=sys.stderr)
    result = _with_runtime(settings, lambda rt: learn_from_corrections(rt, force=args.force))
    print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_vocabulary(settings: Settings, args: argparse.Namespace) -> int:
    from services.vocabulary import VocabularyError, export_vocabulary, import_vocabulary

    files = settings.classifier
    if args.export:
        count = export_vocabulary(files.keywords_path, files.userdict_path, args.export)
        print(f"exported {count} entries to {args.export}")
        return 0
    try:
        count = import_vocabulary(args.import_, files.keywords_path, files.userdict_path)
    except VocabularyError as error:
        print(f"nothing imported: {error}", file=sys.stderr)
        return 2
    print(f"imported {count} entries; run `python -m bot retrain --force` for the model to use them")
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """Serves the web application against the configured (and migrated) database until stopped."""
    from aiohttp import web

    from bot.assembly import build_runtime, prepare_storage
    from web.app import build_web_app

    async def application() -> web.Application:
        rt = build_runtime(settings)
        await prepare_storage(rt)
        app = build_web_app(rt)

        async def dispose(app: web.Application) -> None:
            await rt.db.dispose()

        app.on_cleanup.append(dispose)
        return app

    # run_app stops cleanly on Ctrl-C and on SIGTERM, running on_cleanup either way.
    web.run_app(
        application(),
        host=args.host,
        port=args.port,
        print=lambda _: print(f"serving http://{args.host}:{args.port}/open311/v2/services.json", file=sys.stderr),
    )
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(settings))


def cmd_export_ledger(settings: Settings, args: argparse.Namespace) -> int:
    """The command line is the administrator: every department, discipline reports included."""
    from domain.statistics import Period, days_period
    from services.figures import admin_scope
    from services.ledger import LedgerIncomplete, export_ledger

    fmt = args.format or ("csv" if args.out.suffix.lower() == ".csv" else "xlsx")
    if args.first and args.last and args.last < args.first:
        print("--to is before --from", file=sys.stderr)
        return 2

    async def export(rt):  # type: ignore[no-untyped-def]
        last = args.last or rt.local(rt.now()).date()
        period = days_period(args.first or date(2000, 1, 1), last, rt.hours.tz)
        if args.first is None:
            period = Period(f"至 {last.isoformat()}", period.start, period.end)
        with args.out.open("wb") as out:
            return await export_ledger(
                rt, out, fmt=fmt, period=period, scope=admin_scope(rt),
                bounded=args.first is not None or args.last is not None, progress=_progress_bar,
            )

    try:
        count = _with_runtime(settings, export)
    except LedgerIncomplete as error:
        args.out.unlink(missing_ok=True)
        print(f"\nledger not written: {error}", file=sys.stderr)
        return 1
    print(f"\n{args.out}: {count} lines ({fmt})", file=sys.stderr)
    return 0


def _progress_bar(done: int, total: int, width: int = 30) -> None:
    share = done / total if total else 1.0
    filled = round(width * share)
    sys.stderr.write(f"\r台账 [{'#' * filled}{'.' * (width - filled)}] {share:4.0%} {done}/{total}")
    sys.stderr.flush()
