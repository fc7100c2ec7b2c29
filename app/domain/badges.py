"""What the dashboard shows for a status: label, icon, tone, meaning; for failures, what to do."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.events import FailureCategory
from app.domain.status import Rank


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    icon: str
    tone: str
    meaning: str
    reason: str | None = None
    advice: str | None = None


_BASE: dict[Rank, Badge] = {
    Rank.SENT: Badge("Sent", "✉", "neutral", "Handed to the email provider; nothing reported yet."),
    Rank.DELAYED: Badge(
        "Delayed",
        "⏳",
        "warning",
        "The candidate's mail server asked to try again later; the provider keeps retrying.",
    ),
    Rank.SOFT_BOUNCED: Badge(
        "Bounced",
        "✕",
        "warning",
        "The candidate's mail server refused the email for now (a temporary failure).",
    ),
    Rank.DELIVERED: Badge("Delivered", "✓", "success", "The candidate's mail server accepted it."),
    Rank.OPENED: Badge("Opened", "👁", "success", "The candidate opened the email."),
    Rank.BOUNCED: Badge(
        "Bounced",
        "✕",
        "danger",
        "The candidate's mail server rejected the email permanently.",
    ),
    Rank.DROPPED: Badge(
        "Dropped",
        "⚠",
        "danger",
        "The email provider did not send this email.",
    ),
}

_DEFAULT_REASON: dict[Rank, str] = {
    Rank.SOFT_BOUNCED: "Temporary delivery failure.",
    Rank.BOUNCED: "The receiving server rejected the address.",
    Rank.DROPPED: "The provider refused to send to this address.",
}

_ADVICE: dict[FailureCategory, str] = {
    FailureCategory.INVALID_ADDRESS: (
        "Check the address for typos, or ask the candidate for a current one, then resend."
    ),
    FailureCategory.MAILBOX_UNAVAILABLE: (
        "The mailbox is full or inactive. Try again later or reach the candidate another way."
    ),
    FailureCategory.BLOCKED: (
        "The candidate's provider blocked our mail. Contact them by phone, or ask them to "
        "allow-list our sending address, then resend."
    ),
    FailureCategory.CONTENT: (
        "The message was rejected for its content. Remove unusual links or attachments and resend."
    ),
    FailureCategory.SUPPRESSED_BOUNCE: (
        "This address bounced before, so it is suppressed. "
        "Confirm a new address with the candidate."
    ),
    FailureCategory.SUPPRESSED_UNSUBSCRIBE: (
        "The candidate unsubscribed. Do not resend; reach them through another channel if needed."
    ),
    FailureCategory.SUPPRESSED_COMPLAINT: (
        "The candidate marked earlier mail as spam. Do not resend; contact them another way."
    ),
    FailureCategory.TECHNICAL: (
        "A technical failure on the way. Resend later; if it repeats, contact support."
    ),
    FailureCategory.UNKNOWN: (
        "Verify the address with the candidate and resend, or contact them another way."
    ),
}

_SOFT_ADVICE = "No action needed yet; if it is not delivered within a day, verify the address."


def badge_for(rank: int, *, category: str | None = None, reason: str | None = None) -> Badge:
    """The badge for a stored status; failures add their reason and the next step."""
    r = Rank(rank) if rank else Rank.SENT
    base = _BASE[r]
    if r not in _DEFAULT_REASON:
        return base
    try:
        cat = FailureCategory(category) if category else FailureCategory.UNKNOWN
    except ValueError:
        cat = FailureCategory.UNKNOWN
    advice = _SOFT_ADVICE if r is Rank.SOFT_BOUNCED else _ADVICE[cat]
    return Badge(
        label=base.label,
        icon=base.icon,
        tone=base.tone,
        meaning=base.meaning,
        reason=reason or _DEFAULT_REASON[r],
        advice=advice,
    )
