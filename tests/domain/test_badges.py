import pytest

from app.domain.badges import badge_for
from app.domain.events import FailureCategory
from app.domain.status import Rank


@pytest.mark.parametrize(
    ("rank", "label", "icon"),
    [
        (Rank.SENT, "Sent", "✉"),
        (Rank.DELIVERED, "Delivered", "✓"),
        (Rank.OPENED, "Opened", "👁"),
        (Rank.BOUNCED, "Bounced", "✕"),
        (Rank.SOFT_BOUNCED, "Bounced", "✕"),
        (Rank.DROPPED, "Dropped", "⚠"),
    ],
)
def test_labels_and_icons(rank, label, icon):
    badge = badge_for(rank)
    assert (badge.label, badge.icon) == (label, icon)


def test_success_badges_carry_no_reason_or_advice():
    badge = badge_for(Rank.DELIVERED, category="invalid_address", reason="x")
    assert badge.reason is None
    assert badge.advice is None


@pytest.mark.parametrize("category", list(FailureCategory))
def test_every_failure_category_has_advice(category):
    for rank in (Rank.BOUNCED, Rank.DROPPED):
        badge = badge_for(rank, category=category)
        assert badge.reason
        assert badge.advice


def test_failure_keeps_the_provider_reason():
    badge = badge_for(Rank.BOUNCED, category="mailbox_unavailable", reason="552 mailbox full")
    assert badge.reason == "552 mailbox full"
    assert "full" in badge.advice


def test_unknown_category_falls_back():
    assert badge_for(Rank.DROPPED, category="no-such-thing").advice
