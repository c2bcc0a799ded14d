"""Create registered_phones (or adopt the one an older version left behind).

Revision ID: 0001
Revises:
Create Date: 2024-06-01

Databases created before migrations existed already hold this table, filled; the
revision then leaves it as it is (its shape is checked by ``verify-database``) and
only records that the database is at this revision.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

log = logging.getLogger("pbx.phones")


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("registered_phones"):
        log.warning("registered_phones already exists: adopting it as revision 0001")
        return
    op.create_table(
        "registered_phones",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("mac_address", sa.String(20)),
        sa.Column("extension_number", sa.String(20), nullable=False),
        sa.Column("user_agent", sa.String(255)),
        sa.Column("ip_address", sa.String(50), nullable=False),
        sa.Column("first_registered", sa.TIMESTAMP()),
        sa.Column("last_registered", sa.TIMESTAMP()),
        sa.Column("contact_uri", sa.String(255)),
        sa.UniqueConstraint(
            "mac_address", "extension_number", name="uq_registered_phones_mac_extension"
        ),
        sa.UniqueConstraint(
            "ip_address", "extension_number", name="uq_registered_phones_ip_extension"
        ),
    )


def downgrade() -> None:
    op.drop_table("registered_phones")
