"""The Claude Haiku path, through the real anthropic SDK, against a local HTTP fake of
the Messages API that answers with the API's real response shapes."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from conftest import scan_app

from vmkit.ai.context import GenerationContext
from vmkit.ai.model_generation import PROMPT_VERSION, ModelSettings
from vmkit.ai.onboarding import generate_onboarding
from vmkit.ai.repo_files import LocalCheckout
from vmkit.ai.repo_scanner import scan
from vmkit.ai.validators import Linters

API_KEY = "sk-ant-api03-test-key-never-logged"
MODEL_ID = "claude-haiku-4-5-20251001"
NO_LINTERS = Linters(actionlint=None, hadolint=None)
WORKFLOW = ".github/workflows/vmkit-deploy.yml"


class FakeMessagesAPI:
    """POST /v1/messages. `answer(draft_files) -> (status, body)` decides each reply."""

    def __init__(self):
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.answer = self.improve
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with fake._lock:
                    fake.requests.append(body)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                draft = json.loads(body["messages"][0]["content"])["draft_files"]
                status, reply = fake.answer({f["path"]: f["content"] for f in draft})
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("request-id", "req_011CSHoEeqs5C35K2UUqR7Fy")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    # -- answers ----------------------------------------------------------------

    @staticmethod
    def message(text: str, *, stop_reason: str = "end_turn", output_tokens: int = 400) -> dict:
        return {
            "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
            "type": "message",
            "role": "assistant",
            "model": MODEL_ID,
            "content": [{"type": "text", "text": text}],
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 1200,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output_tokens,
                "service_tier": "standard",
            },
        }

    def improve(self, draft: dict[str, str]) -> tuple[int, dict]:
        files = [
            {"path": p, "content": "# Reviewed for this repo.\n" + c} for p, c in draft.items()
        ]
        answer = {"files": files, "notes": ["added a review note"]}
        return 200, self.message(json.dumps(answer))

    def malformed(self, draft: dict[str, str]) -> tuple[int, dict]:
        return 200, self.message(
            '{"files": [{"path": ".github/workflows/vmk', stop_reason="end_turn"
        )

    @staticmethod
    def overloaded(draft: dict[str, str]) -> tuple[int, dict]:
        return 529, {
            "type": "error",
            "error": {"type": "overloaded_error", "message": "Overloaded"},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy",
        }


@pytest.fixture
def api():
    fake = FakeMessagesAPI()
    yield fake
    fake.close()


def settings(api: FakeMessagesAPI) -> ModelSettings:
    return ModelSettings(api_key=API_KEY, base_url=api.url, max_retries=0, timeout_s=10)


def onboard(api, name="python-django", **kwargs):
    ctx = GenerationContext(owner="acme", repo="invoicer")
    kwargs.setdefault("linters", NO_LINTERS)
    return generate_onboarding(scan_app(name), ctx, model=settings(api), **kwargs)


def test_a_good_answer_is_used_and_its_model_prompt_and_tokens_are_recorded(api):
    onboarding = onboard(api)

    report = onboarding.report
    assert {g.source for g in report.generators} == {"model"}
    assert all(g.fallback_reason is None for g in report.generators)
    assert report.model == MODEL_ID and report.prompt_version == PROMPT_VERSION
    calls = len(report.generators)  # workflow, Kamal config, env stub: no Dockerfile needed
    assert calls == 3
    assert report.input_tokens == 1200 * calls and report.output_tokens == 400 * calls
    assert report.fell_back is False
    assert all(c.startswith("# Reviewed for this repo.\n") for c in onboarding.files.values())
    assert report.generators[0].notes == ["added a review note"]


def test_requests_use_structured_output_with_the_answer_schema(api):
    onboard(api, name="rust-axum")

    assert len(api.requests) == 4  # the Dockerfile generator too
    body = api.requests[0]
    assert body["model"] == "claude-haiku-4-5"
    assert body["output_config"]["format"]["type"] == "json_schema"
    schema = body["output_config"]["format"]["schema"]
    assert set(schema["properties"]) == {"files", "notes"}
    assert "VMKit" in body["system"]
    sent = api.headers[0]
    assert API_KEY in sent.get("x-api-key", sent.get("authorization", ""))


def test_a_malformed_answer_falls_back_to_the_rules_and_says_so(api):
    api.answer = api.malformed
    rules = generate_onboarding(
        scan_app("python-django"), GenerationContext(owner="acme", repo="invoicer")
    )

    onboarding = onboard(api)

    assert onboarding.files == rules.files
    for generator in onboarding.report.generators:
        assert generator.source == "rules"
        assert generator.fallback_reason.startswith("model answer was malformed")
        assert generator.input_tokens == 0  # the SDK raised before usage was read
    assert onboarding.report.fell_back is True


def test_a_529_overload_falls_back_to_the_rules_and_says_so(api):
    api.answer = api.overloaded

    onboarding = onboard(api)

    reasons = {g.fallback_reason for g in onboarding.report.generators}
    assert reasons == {"model API error: HTTP 529 overloaded_error"}
    assert {g.source for g in onboarding.report.generators} == {"rules"}
    assert API_KEY not in onboarding.model_dump_json()


def test_an_answer_that_fails_validation_falls_back_for_that_file_only(api):
    def unpin_actions(draft):
        if WORKFLOW in draft:
            broken = draft[WORKFLOW].replace("@3d3c42e5aac5ba805825da76410c181273ba90b1", "@v4")
            return api.improve({WORKFLOW: broken})
        return api.improve(draft)

    api.answer = unpin_actions

    onboarding = onboard(api)

    by_name = {g.generator: g for g in onboarding.report.generators}
    assert by_name["gh_actions"].source == "rules"
    assert "must be pinned to a full commit SHA" in by_name["gh_actions"].fallback_reason
    assert by_name["gh_actions"].output_tokens == 400  # spent tokens are still counted
    assert by_name["kamal_config"].source == "model"
    assert "@v4" not in onboarding.files[WORKFLOW]


def test_a_model_that_writes_a_literal_secret_into_a_file_is_refused(api):
    canary = "canary-db-password-93ab"

    def leak(draft):
        return api.improve({p: c.replace("$DATABASE_URL", canary) for p, c in draft.items()})

    api.answer = leak

    onboarding = onboard(api, secret_values=[canary])

    kamal = next(g for g in onboarding.report.generators if g.generator == "kamal_config")
    assert kamal.source == "rules"
    assert ".kamal/secrets contains a secret value" in kamal.fallback_reason
    assert canary not in json.dumps(onboarding.files)
    assert canary not in kamal.fallback_reason


def test_an_answer_with_other_files_than_the_draft_is_refused(api):
    def extra_file(draft):
        status, body = api.improve(draft)
        answer = json.loads(body["content"][0]["text"])
        answer["files"].append({"path": ".github/workflows/other.yml", "content": "on: push\n"})
        body["content"][0]["text"] = json.dumps(answer)
        return status, body

    api.answer = extra_file

    onboarding = onboard(api)

    assert ".github/workflows/other.yml" not in onboarding.files
    assert all("expected files" in g.fallback_reason for g in onboarding.report.generators)


def test_a_truncated_answer_falls_back(api):
    api.answer = lambda draft: (200, api.message('{"files": []', stop_reason="max_tokens"))

    onboarding = onboard(api)

    assert {g.source for g in onboarding.report.generators} == {"rules"}
    assert all(
        "max_tokens" in g.fallback_reason or "malformed" in g.fallback_reason
        for g in onboarding.report.generators
    )


def test_an_unreachable_api_falls_back():
    with socket.socket() as bound_not_listening:  # connections to it are refused
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        onboarding = generate_onboarding(
            scan_app("node-express"),
            GenerationContext(owner="acme", repo="orders"),
            model=ModelSettings(
                api_key=API_KEY, base_url=f"http://127.0.0.1:{port}", max_retries=0
            ),
            linters=NO_LINTERS,
        )

    reasons = {g.fallback_reason for g in onboarding.report.generators}
    assert reasons == {"model API unreachable: APIConnectionError"}


def test_the_prompt_carries_names_never_secret_values(api, app_copy, monkeypatch):
    root = app_copy("python-flask")
    canary = "canary-5b1d-redis-password"
    (root / ".env").write_text(f"REDIS_URL=redis://:{canary}@cache:6379/0\n")
    monkeypatch.setenv("REDIS_URL", f"redis://:{canary}@cache:6379/0")

    result = scan(LocalCheckout(root))
    generate_onboarding(
        result,
        GenerationContext(owner="acme", repo="flask"),
        model=settings(api),
        linters=NO_LINTERS,
        secret_values=[canary],
    )

    sent = json.dumps(api.requests)
    assert "REDIS_URL" in sent
    assert canary not in sent
