"""Which adapters exist, and which are active under the current settings."""

from __future__ import annotations

from app.config import Settings
from app.providers.base import WebhookAdapter
from app.providers.mailgun import MailgunAdapter
from app.providers.postmark import PostmarkAdapter
from app.providers.resend import ResendAdapter
from app.providers.sendgrid import SendGridAdapter
from app.providers.ses import SesAdapter

# One line per provider; its module holds everything else about it.
ADAPTER_CLASSES: tuple[type[WebhookAdapter], ...] = (
    SendGridAdapter,
    MailgunAdapter,
    ResendAdapter,
    PostmarkAdapter,
    SesAdapter,
)

PROVIDER_NAMES: tuple[str, ...] = tuple(cls.name for cls in ADAPTER_CLASSES)
_BY_NAME: dict[str, type[WebhookAdapter]] = {cls.name: cls for cls in ADAPTER_CLASSES}


def adapter_class(name: str) -> type[WebhookAdapter] | None:
    return _BY_NAME.get(name)


def build_adapters(settings: Settings) -> dict[str, WebhookAdapter]:
    """Configured adapters by name. A provider without secrets is absent, never unchecked."""
    active: dict[str, WebhookAdapter] = {}
    for cls in ADAPTER_CLASSES:
        adapter = cls.from_settings(settings)
        if adapter is not None:
            active[cls.name] = adapter
    return active
