"""Dependencies between hub jobs (``--after``): ``waiting_on``, the prerequisites a pending job
still waits for (space-separated ids; NULL when none), kept out of the claim query while set.

Revision ID: hub0016_retries
Revises: hub0015_templates_roles
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "hub0016_retries"
down_revision = "hub0015_templates_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("hub_jobs") as batch:
        batch.add_column(sa.Column("waiting_on", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hub_jobs") as batch:
        batch.drop_column("waiting_on")
