"""DynamoDB single-table storage (layout documented in `vmkit.store.keys`)."""

from vmkit.store.store import Page, Store, label
from vmkit.store.table import ConditionFailed, Table

__all__ = ["ConditionFailed", "Page", "Store", "Table", "label"]
