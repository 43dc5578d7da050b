"""The REST client: the API's error shape becomes one actionable error; anything else too."""

from __future__ import annotations

import httpx
import pytest

from vmkit.schemas import ListOf, RepoPublic
from vmkit_cli.client import ApiError, Unreachable, VMKitClient

URL = "http://vmkit.test"
REPO = {
    "id": "repo_01M8YKPESTRM6FRZ8BF8E9PHBS",
    "owner": "acme",
    "name": "shop",
    "full_name": "acme/shop",
    "slug": "shop",
    "installation_id": None,
    "default_branch": "main",
    "onboarding": "not_started",
    "onboarding_pr_url": None,
    "scan": None,
    "created_at": "2026-12-01T12:00:00Z",
}


def _client(handler) -> VMKitClient:
    return VMKitClient.connect(URL, "vmk_k_s", transport=httpx.MockTransport(handler))


def _error(status: int, code: str, message: str, details=None) -> httpx.Response:
    body = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return httpx.Response(status, json=body)


def test_every_request_carries_the_key_and_says_it_is_the_cli():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"items": [REPO], "next_cursor": None})

    assert _client(handler).list_repos()[0].full_name == "acme/shop"
    assert seen[0].headers["authorization"] == "Bearer vmk_k_s"
    assert seen[0].headers["x-vmkit-interface"] == "cli"


def test_lists_follow_every_page():
    def handler(request: httpx.Request) -> httpx.Response:
        cursor = request.url.params.get("cursor")
        page = ListOf[RepoPublic](
            items=[RepoPublic.model_validate({**REPO, "name": cursor or "first"})],
            next_cursor=None if cursor else "second",
        )
        return httpx.Response(200, json=page.model_dump(mode="json"))

    assert [r.name for r in _client(handler).list_repos()] == ["first", "second"]


def test_an_api_error_keeps_its_code_and_gets_the_cli_s_advice():
    def handler(request: httpx.Request) -> httpx.Response:
        return _error(
            409,
            "deploy_in_progress",
            "production is busy with dep_X",
            {"active_deploy_id": "dep_X"},
        )

    with pytest.raises(ApiError) as raised:
        _client(handler).get_deploy("dep_X")
    error = raised.value
    assert error.status == 409 and error.exit_code == 1
    assert error.line() == (
        "production is busy with dep_X [deploy_in_progress]; watch it with "
        "`vmkit deploys show dep_X --watch` or cancel it with `vmkit deploys cancel dep_X`"
    )


@pytest.mark.parametrize("status,exit_code", [(404, 2), (422, 2), (401, 1), (403, 1), (500, 1)])
def test_what_you_named_being_wrong_is_a_usage_error(status, exit_code):
    with pytest.raises(ApiError) as raised:
        _client(lambda request: _error(status, "some_code", "no")).whoami()
    assert raised.value.exit_code == exit_code


def test_invalid_input_names_the_fields():
    details = [{"loc": ["body", "name"], "msg": "String should match pattern", "type": "x"}]
    with pytest.raises(ApiError) as raised:
        _client(
            lambda r: _error(422, "invalid_input", "the request is not valid", details)
        ).whoami()
    assert raised.value.line().endswith("; name: String should match pattern")


def test_a_gateway_answer_that_is_not_vmkit_s_shape_is_still_one_line():
    with pytest.raises(ApiError) as raised:
        _client(lambda r: httpx.Response(502, json={"message": "Internal Server Error"})).whoami()
    assert raised.value.code == "http_502"
    assert raised.value.line() == "GET /api/auth/me answered HTTP 502 Bad Gateway [http_502]"


def test_a_page_that_is_not_json_means_a_wrong_url():
    with pytest.raises(Unreachable) as raised:
        _client(lambda r: httpx.Response(200, text="<html>hello</html>")).whoami()
    assert "is that VMKit's API URL?" in raised.value.line()


def test_nothing_listening_and_too_slow_are_unreachable():
    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused")

    def slow(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(Unreachable) as raised:
        _client(refused).whoami()
    assert raised.value.message == f"cannot reach VMKit at {URL} (connection refused)"
    with pytest.raises(Unreachable) as raised:
        _client(slow).whoami()
    assert "did not answer within 30 s" in raised.value.message
