"""attachment sizes beyond 2 GiB; phone numbers and MIME types of any length

PostgreSQL enforces what SQLite only records: an INTEGER holds at most 2^31 - 1 and a VARCHAR(40)
at most 40 characters, so a 3 GB video or a phone number with an extension failed the whole
submission there. SQLite recreates both tables (batch mode); PostgreSQL alters them in place.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 12:00:00
"""

from alembic import op
import sqlalchemy as sa
import sqlmodel


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.alter_column('file_size', existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=True)
        batch_op.alter_column(
            'mime_type', existing_type=sqlmodel.sql.sqltypes.AutoString(length=100),
            type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=True,
        )
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column(
            'contact_phone', existing_type=sqlmodel.sql.sqltypes.AutoString(length=40),
            type_=sqlmodel.sql.sqltypes.AutoString(), existing_nullable=True,
        )


def downgrade() -> None:
    # Going back loses what no longer fits: sizes above 2^31 - 1 become unknown, texts are cut.
    with op.batch_alter_table('tickets', schema=None) as batch_op:
        batch_op.alter_column(
            'contact_phone', existing_type=sqlmodel.sql.sqltypes.AutoString(),
            type_=sqlmodel.sql.sqltypes.AutoString(length=40), existing_nullable=True,
            postgresql_using='left(contact_phone, 40)',
        )
    with op.batch_alter_table('attachments', schema=None) as batch_op:
        batch_op.alter_column(
            'mime_type', existing_type=sqlmodel.sql.sqltypes.AutoString(),
            type_=sqlmodel.sql.sqltypes.AutoString(length=100), existing_nullable=True,
            postgresql_using='left(mime_type, 100)',
        )
        batch_op.alter_column(
            'file_size', existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=True,
            postgresql_using='CASE WHEN file_size > 2147483647 THEN NULL ELSE file_size END',
        )
