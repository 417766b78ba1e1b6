"""Tokens, users and names (issue 21): a token's ``origin``, ``family`` and ``label``; a user's
``disabled_at``; landing-zone names unique per owner instead of across the hub.

A token that never expires gets the default cap (90 days) from now, since older rows do not say
whether the API or an admin made it; every other token keeps its expiry.

Revision ID: hub0011_tokens
Revises: hub0008_attempts
Create Date: 2026-12-06
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "hub0011_tokens"
down_revision = "hub0010_quotas"
branch_labels = None
depends_on = None

CAP_S = 90 * 86400.0  # HubConfig.max_token_s's default
# SQLite names an unnamed constraint nothing: batch mode finds it by this convention
_SQLITE_NAMES = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(sa.Column("origin", sa.String(16), nullable=True))
        batch.add_column(sa.Column("family", sa.String(32), nullable=True))
        batch.add_column(sa.Column("label", sa.String(64), nullable=True))
        batch.create_index("ix_tokens_family", ["family"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("disabled_at", sa.Float(), nullable=True))
    op.execute(sa.text("UPDATE tokens SET expires_at = :cap WHERE expires_at IS NULL AND revoked_at IS NULL")
               .bindparams(cap=time.time() + CAP_S))
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("landing_zones", naming_convention=_SQLITE_NAMES) as batch:
            batch.drop_constraint("uq_landing_zones_name", type_="unique")
            batch.create_unique_constraint("uq_landing_zones_owner_name", ["owner_id", "name"])
            batch.create_index("ix_landing_zones_name", ["name"])
    else:
        op.drop_constraint("landing_zones_name_key", "landing_zones", type_="unique")
        op.create_unique_constraint("uq_landing_zones_owner_name", "landing_zones", ["owner_id", "name"])
        op.create_index("ix_landing_zones_name", "landing_zones", ["name"])


def downgrade() -> None:
    """Fails where two owners share a zone name (rename one first)."""
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table("landing_zones") as batch:
            batch.drop_index("ix_landing_zones_name")
            batch.drop_constraint("uq_landing_zones_owner_name", type_="unique")
            batch.create_unique_constraint("uq_landing_zones_name", ["name"])
    else:
        op.drop_index("ix_landing_zones_name", "landing_zones")
        op.drop_constraint("uq_landing_zones_owner_name", "landing_zones", type_="unique")
        op.create_unique_constraint("landing_zones_name_key", "landing_zones", ["name"])
    with op.batch_alter_table("users") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index("ix_tokens_family")
        batch.drop_column("label")
        batch.drop_column("family")
        batch.drop_column("origin")
