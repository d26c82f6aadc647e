"""Vendor name -> adapter factory. The gateway builds providers only through `build_provider`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._wire import Client

from .base import Provider

ProviderFactory = Callable[..., Provider]


def _socialboards(**kw: Any) -> Provider:
    from .socialboards.provider import SocialboardsProvider

    return SocialboardsProvider(**kw)


def _infobip(**kw: Any) -> Provider:
    from .infobip.provider import InfobipProvider

    return InfobipProvider(**kw)


def _clevertap(**kw: Any) -> Provider:
    from .clevertap.provider import CleverTapProvider

    return CleverTapProvider(**kw)


VENDORS: dict[str, ProviderFactory] = {"socialboards": _socialboards, "infobip": _infobip, "clevertap": _clevertap}
VENDOR_OPTIONS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # vendor: (required options, optional options)
    "socialboards": (("client_id", "refresh_token"), ("token_url", "agent_email")),
    "infobip": (("api_key",), ("senders", "create_missing_tags")),
    "clevertap": (("account_id", "passcode"), ("agent_email", "max_concurrency")),
}
# Options that are not strings; everything else is a non-empty string.
OPTION_TYPES: dict[str, type] = {"senders": dict, "create_missing_tags": bool, "max_concurrency": int}


def register_vendor(
    vendor: str,
    factory: ProviderFactory,
    *,
    required: tuple[str, ...],
    optional: tuple[str, ...] = (),
    option_types: Mapping[str, type] | None = None,
) -> None:
    """Adds (or replaces) a vendor: its adapter factory and the options its settings take. The three
    built-in vendors are registered above; this is the one call a further vendor needs."""
    VENDORS[vendor] = factory
    VENDOR_OPTIONS[vendor] = (required, optional)
    OPTION_TYPES.update(option_types or {})


def vendor_names() -> tuple[str, ...]:
    return tuple(VENDORS)


def build_provider(vendor: str, *, name: str, http: Client, options: Mapping[str, Any]) -> Provider:
    """Builds the adapter for `vendor`; `options` are the vendor's own settings (credentials etc.)."""
    try:
        factory = VENDORS[vendor]
    except KeyError:
        raise ValueError(f"unknown vendor {vendor!r}; known vendors: {', '.join(VENDORS)}") from None
    return factory(name=name, http=http, **options)
