"""The ``registered_phones`` table, exactly as users' scripts know it.

Declared once here; the Alembic revision, the SQL store and the schema check
(``verify.py``) all use this declaration. Timestamps are naive UTC in plain
TIMESTAMP columns (that is what existing databases hold); the store converts at
its edge. The UNIQUE constraints carry explicit names so that migrations and
checks can refer to them on every backend.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import TIMESTAMP, Integer, String, Table, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

UQ_MAC_EXTENSION = "uq_registered_phones_mac_extension"
UQ_IP_EXTENSION = "uq_registered_phones_ip_extension"


class Base(DeclarativeBase):
    """Metadata holder for Alembic's autogenerate and the tests."""


class RegisteredPhone(Base):
    """One phone on one extension."""

    __tablename__ = "registered_phones"
    __table_args__ = (
        UniqueConstraint("mac_address", "extension_number", name=UQ_MAC_EXTENSION),
        UniqueConstraint("ip_address", "extension_number", name=UQ_IP_EXTENSION),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mac_address: Mapped[str | None] = mapped_column(String(20))
    extension_number: Mapped[str] = mapped_column(String(20), nullable=False)
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ip_address: Mapped[str] = mapped_column(String(50), nullable=False)
    first_registered: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    last_registered: Mapped[datetime | None] = mapped_column(TIMESTAMP)
    contact_uri: Mapped[str | None] = mapped_column(String(255))


registered_phones: Table = cast(Table, RegisteredPhone.__table__)
