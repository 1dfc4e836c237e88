"""indexes on the moments the figures, dashboard and ledger select by

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22 14:40:00
"""

from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.create_index('ix_tickets_received_at', ['received_at'], unique=False)
        batch_op.create_index('ix_tickets_deadline_at', ['deadline_at'], unique=False)
        batch_op.create_index('ix_tickets_closed_at', ['closed_at'], unique=False)
        batch_op.create_index('ix_tickets_state_received', ['state', 'received_at'], unique=False)
        batch_op.create_index('ix_tickets_state_deadline', ['state', 'deadline_at'], unique=False)
        batch_op.create_index('ix_tickets_department_received', ['department_code', 'received_at'], unique=False)
        batch_op.create_index('ix_tickets_category_received', ['category', 'received_at'], unique=False)
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.create_index('ix_appraisals_created_at', ['created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('appraisals', schema=None) as batch_op:
        batch_op.drop_index('ix_appraisals_created_at')
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.drop_index('ix_tickets_category_received')
        batch_op.drop_index('ix_tickets_department_received')
        batch_op.drop_index('ix_tickets_state_deadline')
        batch_op.drop_index('ix_tickets_state_received')
        batch_op.drop_index('ix_tickets_closed_at')
        batch_op.drop_index('ix_tickets_deadline_at')
        batch_op.drop_index('ix_tickets_received_at')
