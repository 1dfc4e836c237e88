"""Command line: `python -m bot COMMAND`. Every command takes --config PATH."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
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
    commands.add_parser("run", help="run the bot (long polling)")
    commands.add_parser("migrate", help="bring the database schema up to date")
    invite = commands.add_parser("invite", help="print a one-time invite code for an officer")
    invite.add_argument("--department", required=True)
    invite.add_argument("--role", default="officer", choices=["officer", "head", "supervisor", "admin"])
    invite.add_argument("--expires", type=_parse_duration, default=timedelta(hours=72), help="e.g. 72h, 3d")
    classify = commands.add_parser("classify", help="classify a text and explain the decision")
    classify.add_argument("text")
    evaluate = commands.add_parser("eval-classifier", help="evaluate the classifier on a JSONL file")
    evaluate.add_argument("file", type=Path)
    commands.add_parser("demo", help="play the whole story offline against a local Bot API server")
    return parser


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
    application = build_application(build_runtime(settings))
    application.run_polling(timeout=settings.telegram.poll_timeout_seconds)
    return 0


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from bot.assembly import build_runtime, prepare_storage

    async def migrate() -> None:
        rt = build_runtime(settings)
        await prepare_storage(rt)
        await rt.db.dispose()

    asyncio.run(migrate())
    print(f"database is up to date: {settings.database.url}")
    return 0


def cmd_invite(settings: Settings, args: argparse.Namespace) -> int:
    from bot.assembly import build_runtime, prepare_storage
    from services.officers import create_invite

    async def invite() -> str:
        rt = build_runtime(settings)
        await prepare_storage(rt)
        try:
            return await create_invite(rt, args.department, args.role, args.expires)
        finally:
            await rt.db.dispose()

    try:
        code = asyncio.run(invite())
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


def _classifier(settings: Settings):  # type: ignore[no-untyped-def]
    from domain.classifier import KeywordClassifier

    return KeywordClassifier.from_files(settings.classifier.keywords_path, settings.classifier.userdict_path)


def cmd_classify(settings: Settings, args: argparse.Namespace) -> int:
    verdict = _classifier(settings).classify(args.text)
    print(
        json.dumps(
            {
                "category": verdict.category,
                "confidence": round(verdict.confidence, 4),
                "deciding_words": list(verdict.deciding_words),
                "scores": {k: round(v, 4) for k, v in verdict.scores.items()},
                "needs_triage": verdict.confidence < settings.routing.confidence_threshold,
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_eval_classifier(settings: Settings, args: argparse.Namespace) -> int:
    from domain.evaluation import evaluate

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
    predicted = [classifier.classify(text).category for text in texts]
    print(json.dumps(evaluate(gold, predicted), ensure_ascii=False))
    return 0


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return asyncio.run(run_demo(settings))
