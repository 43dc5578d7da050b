"""The Claude Haiku path: one structured-output call per generator.

The model gets the scan (names and file paths, never a value), the context, the
hard requirements, and the rule-based draft, and answers with files in a pydantic
schema through the SDK's structured outputs (`messages.parse(output_format=...)`).
Anything short of a well-formed answer (an API error such as 529 overloaded, a
refusal, a truncated or malformed answer) becomes a `ModelFailure` with a reason
safe to show and to store; the caller falls back to the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr, ValidationError

from vmkit.modelbase import Model

if TYPE_CHECKING:
    from anthropic import Anthropic

DEFAULT_MODEL = "claude-haiku-4-5"
#: Bump when the prompt changes, so stored reports say which prompt wrote a file.
PROMPT_VERSION = "onboarding-2026-11-23.1"
_REASON_MAX = 300

SYSTEM_PROMPT = """\
You write the deployment files VMKit adds to a repository in an onboarding pull request.
VMKit builds the app on GitHub Actions (Cloud Native Buildpacks or a Dockerfile), pushes
the image to GHCR, and deploys it with Kamal 2 to one VM the user owns.
You receive a repository scan, the deploy context, the requirements the files must meet,
and a draft written by VMKit's rules. Improve the draft only where the scan shows it is
wrong or incomplete for this repository; otherwise return it unchanged. Every requirement
is mandatory. Never invent secret values: reference secrets by name only. Return exactly
the files of the draft, at the same paths, with their full contents."""


class ModelSettings(Model):
    """How to reach the model. Present only when an Anthropic key is configured."""

    api_key: SecretStr
    model: str = DEFAULT_MODEL
    base_url: str | None = None
    max_retries: int = 2
    timeout_s: float = 60.0
    max_tokens: int = 8000


class ModelFile(Model):
    path: str = Field(description="Repository-relative path, exactly as in the draft")
    content: str = Field(description="Full file content")


class ModelAnswer(Model):
    files: list[ModelFile]
    notes: list[str] = Field(
        description="What you changed from the draft and why; empty if nothing"
    )


@dataclass(frozen=True)
class ModelReply:
    answer: ModelAnswer
    model: str
    input_tokens: int
    output_tokens: int


class ModelFailure(Exception):
    """The model gave no usable answer; `reason` is safe to log and to store."""

    def __init__(self, reason: str, *, input_tokens: int = 0, output_tokens: int = 0):
        super().__init__(reason)
        self.reason = reason[:_REASON_MAX]
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens


def make_client(settings: ModelSettings) -> Anthropic:
    from anthropic import Anthropic

    return Anthropic(
        api_key=settings.api_key.get_secret_value(),
        base_url=settings.base_url,
        max_retries=settings.max_retries,
        timeout=settings.timeout_s,
    )


def build_prompt(
    task: str, requirements: list[str], brief: dict[str, Any], draft: dict[str, str]
) -> str:
    sections = {
        "task": task,
        "requirements": requirements,
        **brief,
        "draft_files": [{"path": p, "content": c} for p, c in draft.items()],
    }
    return json.dumps(sections, indent=1)


def ask_model(client: Anthropic, settings: ModelSettings, prompt: str) -> ModelReply:
    """One structured-output call; raises ModelFailure on anything unusable."""
    import anthropic

    try:
        message = client.messages.parse(
            model=settings.model,
            max_tokens=settings.max_tokens,
            system=SYSTEM_PROMPT,
            messages=[{"role": "user", "content": prompt}],
            output_format=ModelAnswer,
        )
    except anthropic.APIStatusError as exc:
        kind = _error_type(exc.body)
        raise ModelFailure(
            f"model API error: HTTP {exc.status_code}{f' {kind}' if kind else ''}"
        ) from exc
    except anthropic.APIConnectionError as exc:
        raise ModelFailure(f"model API unreachable: {type(exc).__name__}") from exc
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"msg": str(exc)}
        raise ModelFailure(f"model answer was malformed: {first.get('msg')}") from exc
    usage = message.usage
    tokens = {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens}
    if message.stop_reason in ("max_tokens", "refusal"):
        raise ModelFailure(f"model answer unusable: stop_reason {message.stop_reason}", **tokens)
    answer = message.parsed_output
    if answer is None:
        raise ModelFailure("model answer was malformed: no structured output", **tokens)
    return ModelReply(answer=answer, model=message.model, **tokens)


def _error_type(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("type"), str):
            return error["type"]
    return None
