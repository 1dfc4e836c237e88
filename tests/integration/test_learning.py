"""Officers' corrections teach the classifier; every ticket records which model routed it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.assembly import build_runtime, prepare_storage
from bot.cli import main
from domain.clock import FakeClock
from services.hotline import Submission, submit_ticket
from services.learning import learn_from_corrections
from storage.models import CorrectionRow
from tests.conftest import MONDAY_MORNING, database_url, make_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(REPO / "data" / "models", copy)
    return copy


async def test_every_ticket_records_the_model_version_that_routed_it(runtime) -> None:
    accepted = await submit_ticket(runtime, Submission(1, 1, "zh", "complaint", "派出所一直有案不立"))
    async with runtime.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
    current = (REPO / "data" / "models" / "current").read_text().strip()
    assert ticket.classifier_version and ticket.classifier_version in current
    assert set(ticket.scores) == {"business", "petition", "discipline", "other"}


async def test_retraining_learns_from_the_stored_corrections_and_keeps_the_better_model(tmp_path: Path, model_dir: Path) -> None:
    settings = make_settings(tmp_path, OPENDOOR_CLASSIFIER__MODEL_DIR=str(model_dir))
    rt = build_runtime(settings, FakeClock(MONDAY_MORNING))
    await prepare_storage(rt)
    accepted = await submit_ticket(rt, Submission(1, 1, "zh", "complaint", "小区门口天天有人摆摊卖菜，堵得车都过不去"))
    async with rt.db.unit_of_work() as uow:
        ticket = await uow.tickets.by_number(accepted.number)
        for _ in range(3):
            await uow.corrections.add(
                CorrectionRow(
                    ticket_id=ticket.id, text=ticket.text, predicted_category="other", corrected_category="business",
                    from_department="triage", to_department="business", source="triage", at=rt.now(),
                )
            )
        await uow.commit()
    before = (model_dir / "current").read_text()
    result = await learn_from_corrections(rt)
    await rt.db.dispose()
    assert result["corrections"] == 3
    assert set(result["candidate"]) == {"accuracy", "macro_f1", "triage_rate", "auto_routed_accuracy"}
    assert (model_dir / f"router-{result['version']}.json").exists()
    after = (model_dir / "current").read_text()
    assert (after != before) == result["adopted"]
    if result["adopted"]:
        assert rt.classifier.model_version == result["version"]
    assert (REPO / "data" / "models" / "current").read_text() == before  # the repository is untouched


def test_the_retrain_command_prints_what_it_decided(tmp_path: Path, model_dir: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("OPENDOOR_DATABASE__URL", database_url(tmp_path, "cli", migrated=False))
    monkeypatch.setenv("OPENDOOR_CLASSIFIER__MODEL_DIR", str(model_dir))
    assert main(["retrain"]) == 0
    assert '"corrections": 0' in capsys.readouterr().out


def test_vocabulary_exports_and_imports_back_unchanged(tmp_path: Path, monkeypatch, capsys) -> None:
    keywords, userdict = tmp_path / "keywords.toml", tmp_path / "userdict.txt"
    shutil.copy(REPO / "data" / "keywords.toml", keywords)
    shutil.copy(REPO / "data" / "userdict.txt", userdict)
    monkeypatch.setenv("OPENDOOR_CLASSIFIER__KEYWORDS_PATH", str(keywords))
    monkeypatch.setenv("OPENDOOR_CLASSIFIER__USERDICT_PATH", str(userdict))
    exported = tmp_path / "vocabulary.toml"
    assert main(["vocabulary", "--export", str(exported)]) == 0
    import tomllib

    original = tomllib.loads(keywords.read_text(encoding="utf-8"))
    edited = exported.read_text(encoding="utf-8").replace("[keywords.discipline]", '[keywords.discipline]\n"新造词汇甲" = 3.0', 1)
    exported.write_text(edited, encoding="utf-8")
    assert main(["vocabulary", "--import", str(exported)]) == 0
    imported = tomllib.loads(keywords.read_text(encoding="utf-8"))
    assert imported["discipline"]["新造词汇甲"] == 3.0
    assert {k: v for k, v in imported["business"].items()} == {k: float(v) for k, v in original["business"].items()}
    assert userdict.read_text(encoding="utf-8").split() == (REPO / "data" / "userdict.txt").read_text(encoding="utf-8").split()


def test_a_broken_vocabulary_file_is_refused_and_nothing_is_written(tmp_path: Path, monkeypatch, capsys) -> None:
    keywords = tmp_path / "keywords.toml"
    shutil.copy(REPO / "data" / "keywords.toml", keywords)
    monkeypatch.setenv("OPENDOOR_CLASSIFIER__KEYWORDS_PATH", str(keywords))
    broken = tmp_path / "broken.toml"
    broken.write_text('[keywords.bribery]\n"红包" = 3.0\n', encoding="utf-8")
    assert main(["vocabulary", "--import", str(broken)]) == 2
    assert "unknown categories ['bribery']" in capsys.readouterr().err
    assert keywords.read_text(encoding="utf-8") == (REPO / "data" / "keywords.toml").read_text(encoding="utf-8")


def test_starting_the_bot_loads_no_scikit_learn() -> None:
    import subprocess
    import sys

    script = (
        "import sys\n"
        "import bot.assembly, bot.cli\n"
        "print(sorted(m for m in ('sklearn', 'numpy', 'scipy', 'training.retrain') if m in sys.modules))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"
