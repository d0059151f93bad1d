"""The REST API (FastAPI): `create_app(settings)`."""

from lakehouse.api.app import create_app

__all__ = ["create_app"]
