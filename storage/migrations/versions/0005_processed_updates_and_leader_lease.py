"""processed updates (webhook deduplication) and the leader lease

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 09:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel
import storage.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('processed_updates',
    sa.Column('update_id', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('worker', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('claimed_at', storage.models.UTCDateTime(), nullable=False),
    sa.Column('handled_at', storage.models.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('update_id')
    )
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_processed_updates_claimed_at'), ['claimed_at'], unique=False)

    op.create_table('leader_lease',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('holder', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )


def downgrade() -> None:
    op.drop_table('leader_lease')
    with op.batch_alter_table('processed_updates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_processed_updates_claimed_at'))

    op.drop_table('processed_updates')
