"""The REST API (FastAPI): thin routers over `vmkit.services`."""

from vmkit.rest.app import create_app

__all__ = ["create_app"]
