"""kouminrenkei-sheets: validate, sync and publish a public-private partnership desk's spreadsheets.

The public API (``__all__``, pinned by ``tests/test_imports.py``): the configuration and the store,
the findings and the errors, and one module per command holding one function of the command's name
(``sync.sync``, ``validate.validate``, ``agreements.agreement`` …), each taking a :class:`Config` and a
:class:`Store` and returning a result with ``to_dict()``::

    from kouminrenkei_sheets import load_config, open_store, sync
    config = load_config("kouminrenkei.toml")
    result = sync.sync(config, open_store(config))
    print(result.summary())

The functions are not re-bound here under their modules' names: ``kouminrenkei_sheets.sync`` stays
the module, so ``import kouminrenkei_sheets.sync`` and ``monkeypatch`` paths mean what they say.
"""

from __future__ import annotations

from . import agreements, demo, init, intake, notify, publish, refer, reports, run, sync, validate
from .config import Config, load_config
from .errors import BusyError, ConfigError, DataError, KouminrenkeiError, ServiceError, StoreError, UsageError
from .findings import Finding, Report, Severity
from .store.base import Store
from .store.factory import open_store

__version__ = "0.1.0"

__all__ = [
    "BusyError",
    "Config",
    "ConfigError",
    "DataError",
    "Finding",
    "KouminrenkeiError",
    "Report",
    "ServiceError",
    "Severity",
    "Store",
    "StoreError",
    "UsageError",
    "__version__",
    "agreements",
    "demo",
    "init",
    "intake",
    "load_config",
    "notify",
    "open_store",
    "publish",
    "refer",
    "reports",
    "run",
    "sync",
    "validate",
]
