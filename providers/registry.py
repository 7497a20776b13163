"""The one registration list: every provider the engine knows, by its declaration (:mod:`providers.spec`).

Adding a provider is a folder ``providers/<name>/`` with a ``spec.py`` exporting ``SPEC``, and one line here
(``docs/adding-a-provider.md``). Importing this module loads only the declarations: no client, no HTTP.
"""

from __future__ import annotations

from providers.kess.spec import SPEC as KESS
from providers.spec import ProviderSpec
from providers.waafipay.spec import SPEC as WAAFIPAY
from providers.waffo.spec import SPEC as WAFFO

PROVIDERS: tuple[ProviderSpec, ...] = (WAFFO, KESS, WAAFIPAY)

_BY_NAME = {spec.name: spec for spec in PROVIDERS}

#: Every provider's name, in registration order.
PROVIDER_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def provider_spec(name: str) -> ProviderSpec:
    """The declaration of provider ``name``; KeyError names the known ones."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; expected one of {', '.join(PROVIDER_NAMES)}") from None
