"""Configuration from the environment, read once per cold start.

Each Lambda gets its environment from template.yaml; the local stack sets the same
variables. This is a plain pydantic model rather than pydantic-settings because the
latter costs ~100 ms of import time on every cold start for nothing we need.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import BaseModel, Field


class Settings(BaseModel):
    table_name: str = Field(default="vmkit", alias="TABLE_NAME")
    kms_key_id: str = Field(default="alias/vmkit", alias="KMS_KEY_ID")
    apps_domain: str = Field(default="vmkit.app", alias="APPS_DOMAIN")
    # How an environment's hostname becomes a URL: HTTPS via kamal-proxy on AWS; the
    # local stack serves plain HTTP on its router's port.
    apps_url_template: str = Field(default="https://{hostname}", alias="APPS_URL_TEMPLATE")
    deploy_state_machine_arn: str = Field(default="", alias="DEPLOY_STATE_MACHINE_ARN")
    teardown_state_machine_arn: str = Field(default="", alias="TEARDOWN_STATE_MACHINE_ARN")
    github_app_id: str = Field(default="", alias="GITHUB_APP_ID")
    github_api_url: str = Field(default="https://api.github.com", alias="GITHUB_API_URL")
    github_web_url: str = Field(default="https://github.com", alias="GITHUB_WEB_URL")
    github_app_key_secret: str = Field(default="", alias="GITHUB_APP_KEY_SECRET_NAME")
    github_oauth_secret: str = Field(default="", alias="GITHUB_OAUTH_SECRET_NAME")
    github_webhook_secret: str = Field(default="", alias="GITHUB_WEBHOOK_SECRET_NAME")
    anthropic_key_secret: str = Field(default="", alias="ANTHROPIC_KEY_SECRET_NAME")
    cloudflare_zone_id: str = Field(default="", alias="CLOUDFLARE_ZONE_ID")
    cloudflare_token_secret: str = Field(default="", alias="CLOUDFLARE_TOKEN_SECRET_NAME")
    public_url: str = Field(default="", alias="PUBLIC_URL")
    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES")

    model_config = {"populate_by_name": True, "extra": "ignore", "frozen": True}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
