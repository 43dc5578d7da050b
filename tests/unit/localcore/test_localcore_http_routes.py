"""The local HTTP API matches routes as API Gateway does."""

from __future__ import annotations

from vmkit_local.core.http_api import Route


def test_a_path_variable_matches_any_character_a_client_sends_newlines_included():
    route = Route("ANY", "/api/{proxy+}", "ApiFunction")
    assert route.matches("GET", "/api/instances/\n\U000f0a7a/metrics")
    assert Route("GET", "/api/x/{id}", "F").matches("GET", "/api/x/a\nb")
    assert not Route("GET", "/api/x/{id}", "F").matches("GET", "/api/x/a/b")
    assert not route.matches("GET", "/other")


def test_the_dashboard_gets_every_path_but_the_apis():
    from tests.support.template import template
    from vmkit_local.core.http_api import routes_from_template

    routes = routes_from_template(template()["Resources"], "HttpApi")

    def function(method: str, path: str) -> str:
        return next(r for r in routes if r.matches(method, path)).function

    for method, path in [("GET", "/api/environments"), ("POST", "/api/auth/logout")]:
        assert function(method, path) == "ApiFunction"
    for path in ("/openapi.json", "/docs", "/health"):
        assert function("GET", path) == "ApiFunction"
    assert function("POST", "/api/webhooks/github") == "WebhookFunction"
    for method, path in [("GET", "/"), ("GET", "/deploys/dep_1"), ("POST", "/settings/keys")]:
        assert function(method, path) == "WebFunction"


def test_events_say_how_the_client_connected_as_api_gateway_does():
    from vmkit_local.core.http_api import HttpApiGateway

    gateway = HttpApiGateway([Route("ANY", "/{proxy+}", "WebFunction")])
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/x",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 5555),
        "headers": [(b"host", b"127.0.0.1:8080")],
    }
    headers = gateway._event(scope, b"", gateway.routes[0])["headers"]
    assert headers["x-forwarded-proto"] == "http"  # Mangum builds the request URL from it
    assert headers["x-forwarded-port"] == "8080" and headers["x-forwarded-for"] == "127.0.0.1"
