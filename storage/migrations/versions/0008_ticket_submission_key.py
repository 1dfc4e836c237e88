"""a ticket remembers the submission that made it, so the same submission never makes two

A worker killed after it committed a ticket but before it saved the conversation leaves the update
unanswered; Telegram sends it again and another worker handles 确认提交 once more. The draft's key,
stored with the ticket under a unique index, turns that second submission into the first one's ticket.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submission_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.create_index('ix_tickets_submission_key', ['submission_key'], unique=True)


def downgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_submission_key')
        batch_op.drop_column('submission_key')
