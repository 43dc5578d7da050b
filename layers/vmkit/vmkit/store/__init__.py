"""DynamoDB single-table storage (layout documented in `vmkit.store.keys`)."""

from vmkit.store.keys import Claims
from vmkit.store.runtime import AgentCall, Connection, Delivery, Wait, WaitFor
from vmkit.store.store import Page, Store, label
from vmkit.store.table import ConditionFailed, Table

__all__ = [
    "AgentCall",
    "Claims",
    "ConditionFailed",
    "Connection",
    "Delivery",
    "Page",
    "Store",
    "Table",
    "Wait",
    "WaitFor",
    "label",
]
