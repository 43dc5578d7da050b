"""Configuration from the environment, read once per cold start.

Each Lambda gets its environment from template.yaml; the local stack sets the same
variables. This is a plain pydantic model rather than pydantic-settings because the
latter costs ~100 ms of import time on every cold start for nothing we need.
"""

from __future__ import annotations

import os
from functools import lru_cache

from pydantic import Field

from vmkit.errors import VMKitError
from vmkit.modelbase import Model


class MissingSetting(VMKitError):
    """The function's environment lacks a variable its code needs: a deployment error,
    raised at cold start (`Settings.require`) rather than in the middle of a request."""

    code = "not_configured"
    status = 503


class Settings(Model):
    table_name: str = Field(default="", alias="TABLE_NAME")
    kms_key_id: str = Field(default="", alias="KMS_KEY_ID")
    apps_domain: str = Field(default="vmkit.app", alias="APPS_DOMAIN")
    # How an environment's hostname becomes a URL: HTTPS via kamal-proxy on AWS; the
    # local stack serves plain HTTP on its router's port.
    apps_url_template: str = Field(default="https://{hostname}", alias="APPS_URL_TEMPLATE")
    deploy_state_machine_arn: str = Field(default="", alias="DEPLOY_STATE_MACHINE_ARN")
    teardown_state_machine_arn: str = Field(default="", alias="TEARDOWN_STATE_MACHINE_ARN")
    github_app_id: str = Field(default="", alias="GITHUB_APP_ID")
    # The App's URL name, for its install page (`{github_web_url}/apps/{slug}`).
    github_app_slug: str = Field(default="", alias="GITHUB_APP_SLUG")
    github_api_url: str = Field(default="https://api.github.com", alias="GITHUB_API_URL")
    github_web_url: str = Field(default="https://github.com", alias="GITHUB_WEB_URL")
    github_app_key_parameter: str = Field(default="", alias="GITHUB_APP_KEY_PARAMETER")
    github_oauth_parameter: str = Field(default="", alias="GITHUB_OAUTH_PARAMETER")
    github_webhook_secret_parameter: str = Field(
        default="", alias="GITHUB_WEBHOOK_SECRET_PARAMETER"
    )
    anthropic_key_parameter: str = Field(default="", alias="ANTHROPIC_KEY_PARAMETER")
    cloudflare_zone_id: str = Field(default="", alias="CLOUDFLARE_ZONE_ID")
    cloudflare_token_parameter: str = Field(default="", alias="CLOUDFLARE_TOKEN_PARAMETER")
    public_url: str = Field(default="", alias="PUBLIC_URL")
    # Provider endpoints: empty means the public API; the local stack points them at
    # its simulators, so the same adapters run there.
    hcloud_api_url: str = Field(default="", alias="HCLOUD_API_URL")
    digitalocean_api_url: str = Field(default="", alias="DIGITALOCEAN_API_URL")
    cloudflare_api_url: str = Field(default="", alias="CLOUDFLARE_API_URL")
    local_compute_url: str = Field(default="", alias="LOCAL_COMPUTE_URL")
    local_compute_token: str = Field(default="", alias="LOCAL_COMPUTE_TOKEN")
    provider_poll_seconds: float = Field(default=1.0, alias="PROVIDER_POLL_SECONDS")
    # The agent: where VMs download it from (S3, by presigned URL) and dial in to.
    agent_bucket: str = Field(default="", alias="AGENT_BUCKET")
    agent_key: str = Field(default="vmkit-agent.pyz", alias="AGENT_KEY")
    agent_gateway_url: str = Field(default="", alias="AGENT_GATEWAY_URL")
    ws_management_url: str = Field(default="", alias="WS_MANAGEMENT_URL")
    # How long a deploy waits on each outside event before it fails.
    pr_wait_seconds: int = Field(default=7 * 24 * 3600, alias="PR_WAIT_SECONDS")
    agent_wait_seconds: int = Field(default=300, alias="AGENT_WAIT_SECONDS")
    harden_wait_seconds: int = Field(default=300, alias="HARDEN_WAIT_SECONDS")
    workflow_wait_seconds: int = Field(default=3600, alias="WORKFLOW_WAIT_SECONDS")
    # A deploy's record is written just before its execution starts: younger than
    # this, a missing execution may simply not exist yet (the sweeper leaves it).
    execution_grace_seconds: int = Field(default=120, ge=0, alias="EXECUTION_GRACE_SECONDS")
    # Fits the largest request the schemas allow (100 env vars of 16k characters, JSON-escaped).
    max_body_bytes: int = Field(default=1024 * 1024, alias="MAX_BODY_BYTES")

    model_config = {"populate_by_name": True, "extra": "ignore", "frozen": True}

    def require(self, *names: str) -> Settings:
        """Fail now, naming the environment variables, if any of these settings is empty.

        Each function calls this at import for what its code paths need, so a function
        deployed without one fails its first (cold) start, not a user's request.
        """
        missing = [
            type(self).model_fields[name].alias or name.upper()
            for name in names
            if not getattr(self, name)
        ]
        if missing:
            raise MissingSetting(
                f"this function's environment lacks {', '.join(missing)}; "
                "set it in template.yaml (or the local stack's parameters)"
            )
        return self


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))
