"""Figures with one definition, used by the digest, the dashboard and the ledger alike."""

from __future__ import annotations

from collections.abc import Mapping

from domain.tickets import SurveyAnswer

SATISFIED_ANSWERS = (SurveyAnswer.SATISFIED, SurveyAnswer.BASICALLY_SATISFIED)
RATED_ANSWERS = (*SATISFIED_ANSWERS, SurveyAnswer.UNSATISFIED)


def satisfaction_rate(survey_results: Mapping[str, int]) -> float | None:
    """满意率 = (满意 + 基本满意) ÷ surveyed; 未回访 is not a rating. None when nobody rated."""
    rated = sum(survey_results.get(answer, 0) for answer in RATED_ANSWERS)
    if rated == 0:
        return None
    return sum(survey_results.get(answer, 0) for answer in SATISFIED_ANSWERS) / rated
