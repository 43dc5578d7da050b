"""The local HTTP API matches routes as API Gateway does."""

from __future__ import annotations

from vmkit_local.core.http_api import Route


def test_a_path_variable_matches_any_character_a_client_sends_newlines_included():
    route = Route("ANY", "/api/{proxy+}", "ApiFunction")
    assert route.matches("GET", "/api/instances/\n\U000f0a7a/metrics")
    assert Route("GET", "/api/x/{id}", "F").matches("GET", "/api/x/a\nb")
    assert not Route("GET", "/api/x/{id}", "F").matches("GET", "/api/x/a/b")
    assert not route.matches("GET", "/other")
