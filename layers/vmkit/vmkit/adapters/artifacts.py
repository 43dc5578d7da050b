"""The agent build in the artifacts bucket (S3): published by operators, fetched by VMs."""

from __future__ import annotations

from typing import Any

from vmkit.ports import PublishedAgent

AGENT_KEY = "vmkit-agent.pyz"
DOWNLOAD_URL_SECONDS = 3600


def publish_agent(
    s3: Any, bucket: str, artifact: bytes, *, sha256: str, version: str, key: str = AGENT_KEY
) -> None:
    """Upload an agent build with the metadata `S3AgentArtifacts.published` reads back
    (operators, the local stack and tests all publish through here)."""
    s3.put_object(
        Bucket=bucket, Key=key, Body=artifact, Metadata={"sha256": sha256, "version": version}
    )


class S3AgentArtifacts:
    def __init__(self, client: Any, bucket: str, key: str = AGENT_KEY):
        self.client = client
        self.bucket = bucket
        self.key = key

    def published(self) -> PublishedAgent:
        head = self.client.head_object(Bucket=self.bucket, Key=self.key)
        url = self.client.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.bucket, "Key": self.key},
            ExpiresIn=DOWNLOAD_URL_SECONDS,
        )
        return PublishedAgent(
            version=head["Metadata"].get("version", ""),
            download_url=url,
            checksum_sha256=head["Metadata"]["sha256"],
        )
