"""Survey result, reopen count, classifier scores and version on tickets

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 11:40:00
"""

import sqlalchemy as sa
from alembic import op

import storage.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reopen_count", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("survey_result", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("surveyed_at", storage.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("scores", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("classifier_version", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_column("classifier_version")
        batch_op.drop_column("scores")
        batch_op.drop_column("surveyed_at")
        batch_op.drop_column("survey_result")
        batch_op.drop_column("reopen_count")
