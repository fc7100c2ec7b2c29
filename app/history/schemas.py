"""Contact history page."""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.emails.schemas import EmailSummary


class ContactHistoryPage(BaseModel):
    items: list[EmailSummary]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next (older) page; null on the last page."
    )
