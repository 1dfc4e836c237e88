"""Configuration and the command line, as an operator meets them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.settings import ConfigError, load_settings
from tests.conftest import database_url

REPO = Path(__file__).resolve().parents[2]
DEV_CORPUS = REPO.parent / "shared" / "corpus" / "dev.jsonl"


def test_environment_variables_override_the_config_file() -> None:
    settings = load_settings(
        environ={
            "OPENDOOR_TELEGRAM__TOKEN": "42:secret",
            "OPENDOOR_LIMITS__REPLY__BUSINESS": "7d",
            "OPENDOOR_SCHEDULER__REMINDER_FRACTIONS": "[0.25, 0.75]",
        }
    )
    assert settings.telegram.token.get_secret_value() == "42:secret"
    assert str(settings.limits.reply["business"]) == "7d"
    assert settings.scheduler.reminder_fractions == [0.25, 0.75]


def test_the_token_never_shows_in_the_settings_repr() -> None:
    settings = load_settings(environ={"OPENDOOR_TELEGRAM__TOKEN": "42:secret"})
    assert "42:secret" not in repr(settings)


def test_a_missing_config_file_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nowhere.toml"):
        load_settings(tmp_path / "nowhere.toml", environ={})


def test_a_config_routing_to_an_unknown_department_is_refused(tmp_path: Path) -> None:
    broken = (REPO / "config.toml").read_text(encoding="utf-8").replace('other = "triage" }', 'other = "nowhere" }')
    path = tmp_path / "config.toml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError, match="nowhere"):
        load_settings(path, environ={})


def test_questions_get_the_question_limit_and_other_kinds_their_categorys() -> None:
    limits = load_settings(environ={}).limits
    assert str(limits.reply_limit("business", "question")) == "3d"
    assert str(limits.reply_limit("business", "complaint")) == "5d"
    assert str(limits.reply_limit("discipline", "report")) == "15d"


def test_a_limit_for_one_category_and_kind_wins_over_the_kind_alone() -> None:
    limits = load_settings(environ={"OPENDOOR_LIMITS__BY_KIND": '{"question": "3d", "business.report": "8h"}'}).limits
    assert str(limits.reply_limit("business", "report")) == "8h"
    assert str(limits.reply_limit("petition", "report")) == "15d"


def test_an_unreadable_limit_in_the_config_is_refused_with_an_example() -> None:
    with pytest.raises(ConfigError, match="5d"):
        load_settings(environ={"OPENDOOR_LIMITS__SIGN_FOR": "one day"})


def test_run_without_a_token_explains_how_to_get_one(capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    monkeypatch.delenv("OPENDOOR_TELEGRAM__TOKEN", raising=False)
    assert main(["run"]) == 2
    error = capsys.readouterr().err
    assert "@BotFather" in error and "OPENDOOR_TELEGRAM__TOKEN" in error and "make demo" in error


def test_invite_prints_a_code_and_how_to_use_it(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    assert main(["invite", "--department", "petition", "--expires", "3d"]) == 0
    out = capsys.readouterr()
    code = out.out.strip()
    assert len(code) == 10 and code.isalnum()
    assert f"/register {code}" in out.err


def test_invite_for_an_unknown_department_lists_the_known_ones(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    assert main(["invite", "--department", "traffic"]) == 2
    assert "petition" in capsys.readouterr().err


def test_classify_explains_its_decision(capsys) -> None:
    assert main(["classify", "派出所民警吃拿卡要，还充当保护伞"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["category"] == "discipline"
    assert {"吃拿卡要", "保护伞"} <= set(verdict["deciding_words"])
    assert 0 < verdict["confidence"] <= 1


def test_eval_classifier_reports_a_bad_line_by_number(tmp_path: Path, capsys) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "你好", "label": "other"}\n{"text": "缺标签"}\n', encoding="utf-8")
    assert main(["eval-classifier", str(path)]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err


@pytest.mark.skipif(not DEV_CORPUS.exists(), reason="the shared dev corpus sits beside the repository")
def test_eval_classifier_measures_the_dev_corpus() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "bot", "eval-classifier", str(DEV_CORPUS)],
        capture_output=True, text=True, cwd=REPO, env={**os.environ}, check=True,
    )
    figures = json.loads(completed.stdout)
    print("\ndev corpus:", json.dumps({k: figures[k] for k in ("n", "accuracy", "macro_f1")}))
    print("per label:", json.dumps(figures["per_label"], ensure_ascii=False))
    assert figures["n"] == 240
    assert set(figures["per_label"]) == {"business", "petition", "discipline", "other"}
    assert sum(sum(row.values()) for row in figures["confusion"].values()) == 240


def test_a_revoked_invite_code_can_no_longer_register_anyone(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    main(["invite", "--department", "petition"])
    code = capsys.readouterr().out.strip()
    assert main(["invite", "--revoke", code]) == 0
    assert main(["invite", "--revoke", code]) == 0  # revoking twice is harmless: still unusable
    assert main(["invite", "--revoke", "NOSUCHCODE"]) == 2


def test_officers_are_listed_and_deactivated_by_id(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    assert main(["officer", "--deactivate", "99"]) == 2
    assert "no officer with id 99" in capsys.readouterr().err
    assert main(["officer", "--list"]) == 0


def test_health_reports_the_database_the_backlog_and_the_calendar_gap(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    assert main(["health"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["database"] == "ok"
    assert report["outbox"]["pending"] == 0 and report["reminders_due"] == 0
    assert len(report["calendar"]["years"]) == 2


async def test_health_names_a_year_the_official_calendar_does_not_cover(runtime) -> None:
    from services.health import health

    report = await health(runtime)  # the injected clock says November 2026
    assert report["calendar"]["years"] == {"2026": True, "2027": False}
    assert "2027" in report["calendar"]["warning"]
