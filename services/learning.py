"""The classifier learns from officers' corrections (转派, triage): retrain, check, adopt if not worse."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from typing import TYPE_CHECKING

from bot.settings import ClassifierSettings, Settings
from domain.classifier import RoutingClassifier
from services.runtime import Runtime

if TYPE_CHECKING:  # training pulls in scikit-learn; the bot imports it only when it retrains
    from training.retrain import RetrainOutcome

log = logging.getLogger(__name__)
HEADLINE = ("accuracy", "macro_f1", "triage_rate", "auto_routed_accuracy")


def build_classifier(files: ClassifierSettings) -> RoutingClassifier:
    """The router the bot uses, on the current model; it reads its files on first use (or warm_up())."""
    return RoutingClassifier.from_files(
        model_path=files.model_dir,
        dictionary_path=files.dictionary_path,
        userdict_path=files.userdict_path,
        keywords_path=files.keywords_path,
        variants_path=files.variants_path,
        units_path=files.business_units_path,
    )


def retrain_classifier(settings: Settings, corrections: list[tuple[str, str]], *, force: bool = False) -> RetrainOutcome:
    """Trains on the seed set plus corrections and adopts the result only if the check set agrees."""
    from training.data import read_jsonl, read_seed
    from training.resources import reader_for
    from training.retrain import current_or_none, retrain

    files = settings.classifier
    return retrain(
        read_seed(files.training_dir / "seed"),
        corrections,
        read_jsonl(files.training_dir / "check.jsonl"),
        current_or_none(files.model_dir),
        files.model_dir,
        threshold=settings.routing.confidence_threshold,
        reader=reader_for(files),
        force=force,
    )


def summary(outcome: RetrainOutcome, corrections: int) -> dict[str, Any]:
    return {
        "adopted": outcome.adopted,
        "version": outcome.version,
        "path": str(outcome.path),
        "corrections": corrections,
        "candidate": {k: outcome.candidate_figures[k] for k in HEADLINE},
        "current": {k: outcome.current_figures[k] for k in HEADLINE} if outcome.current_figures else None,
    }


async def corrections_for_training(rt: Runtime) -> list[tuple[str, str]]:
    async with rt.db.unit_of_work() as uow:
        return [(c.text, c.corrected_category) for c in await uow.corrections.all()]


async def learn_from_corrections(rt: Runtime, *, force: bool = False) -> dict[str, Any]:
    """Retrains off the event loop; an adopted model takes over routing at once."""
    corrections = await corrections_for_training(rt)
    outcome = await asyncio.to_thread(retrain_classifier, rt.settings, corrections, force=force)
    if outcome.adopted:
        classifier = build_classifier(rt.settings.classifier)
        await asyncio.to_thread(classifier.warm_up)
        rt.classifier = classifier
    result = summary(outcome, len(corrections))
    log.info("classifier retrained: %s", result)
    return result
