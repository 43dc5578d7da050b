"""Credential rotation against the fakes: the deploy key in steps that never lock the
deploy path out (and resume after an interruption), the agent token promoted only
when the agent connects with it."""

from __future__ import annotations

import threading

import pytest

from vmkit import agentrpc, auth
from vmkit.errors import AgentUnavailable, Conflict, Forbidden, ProviderError
from vmkit.models import Instance, Interface, Scope
from vmkit.services import agents, audit, rotation
from vmkit.services.orchestration import SSH_KEY_SECRET, WORKFLOW_PATH


def _with_vm(core):
    core.forge.tree[WORKFLOW_PATH] = "name: vmkit deploy\n"
    deploy = core.begin()
    core.step("EnsureInstance", deploy)
    core.connect_agent()
    core.step("EnsureDeploySecrets", deploy)
    return deploy


class HardeningAgent:
    """Answers every harden call the way the agent would, recording the keys it was
    told to authorize (in a thread, as the real agent answers over the WebSocket)."""

    def __init__(self, core):
        self.core = core
        self.authorized: list[list[str]] = []
        self.fail = False
        self._stop = threading.Event()
        self._seen: set[str] = set()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *_):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(0.01):
            for connection_id, call in list(self.core.agents.frames):
                if call["id"] in self._seen or call.get("type") != "call":
                    continue
                self._seen.add(call["id"])
                params = call["params"]
                if call["method"] == "harden":
                    keys = [params["deploy_public_key"]]
                    keys += (
                        [params["rotating_public_key"]] if params.get("rotating_public_key") else []
                    )
                    self.authorized.append(keys)
                if self.fail:
                    continue  # no answer: the call times out
                self.core.reply(connection_id, call, {"ok": True, "changes": []})


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch):
    monkeypatch.setattr(rotation, "CALL_TIMEOUT_S", 1.0)
    monkeypatch.setattr(rotation, "RECONNECT_WAIT_S", 1.0)


def test_a_deploy_key_rotation_authorizes_the_new_key_beside_the_old_then_removes_the_old(core):
    _with_vm(core)
    assert core.env().deploy_key is None  # before: the target's key
    old_secret = core.forge.secrets[SSH_KEY_SECRET]
    with HardeningAgent(core) as agent:
        result = rotation.rotate(core.deps, core.principal, core.environment_id, "deploy_key")
    assert result.status == "rotated"
    env = core.env()
    new_public = env.deploy_key.public_openssh
    assert env.pending_deploy_key is None and env.deploy_key_rotated_at is not None
    (both, alone) = agent.authorized
    assert new_public in both and len(both) == 2  # first beside the old key
    assert alone == [new_public]  # then alone
    new_secret = core.forge.secrets[SSH_KEY_SECRET]
    assert new_secret != old_secret and "OPENSSH PRIVATE KEY" in new_secret
    assert result.public_key == new_public
    # no secret in the record, the result or the audit
    assert "PRIVATE" not in env.model_dump_json() and "PRIVATE" not in result.model_dump_json()
    (event, *_) = audit.list_events(core.deps, core.principal).items
    assert event.action == "environment.rotate_credentials"
    assert event.details["credential"] == "deploy_key" and "PRIVATE" not in str(event.details)


def test_an_interrupted_rotation_keeps_the_old_key_working_and_a_retry_finishes_it(core):
    deploy = _with_vm(core)
    old_secret = core.forge.secrets[SSH_KEY_SECRET]
    with HardeningAgent(core) as agent:
        core.forge.fail_next(
            "set_secret", ProviderError("GitHub refused: HTTP 500", provider="github")
        )
        with pytest.raises(ProviderError):
            rotation.rotate(core.deps, core.principal, core.environment_id, "deploy_key")
        env = core.env()
        assert env.pending_deploy_key.stage == "authorized" and env.deploy_key is None
        assert core.forge.secrets[SSH_KEY_SECRET] == old_secret  # the old key still deploys
        (both,) = agent.authorized
        assert len(both) == 2  # ...and the VM still accepts it
        pending_public = env.pending_deploy_key.public_openssh

        # a deploy in the middle of it authorizes both keys and deploys with the new one
        core.step("EnsureDeploySecrets", deploy)
        assert core.forge.secrets[SSH_KEY_SECRET] != old_secret
        params = environments_harden(core)
        assert params["rotating_public_key"] == pending_public

        result = rotation.rotate(core.deps, core.principal, core.environment_id, "deploy_key")
    assert result.status == "rotated" and result.public_key == pending_public  # the same key
    assert agent.authorized[-1] == [pending_public]


def environments_harden(core):
    from vmkit.models import ComputeTarget
    from vmkit.services import environments

    env = core.env()
    target = core.deps.store.get(ComputeTarget, env.workspace_id, env.compute_target_id)
    return environments.harden_params(core.deps, env, target)


def test_an_agent_that_does_not_answer_leaves_nothing_but_the_pending_key(core):
    _with_vm(core)
    old_secret = core.forge.secrets[SSH_KEY_SECRET]
    with HardeningAgent(core) as agent:
        agent.fail = True
        with pytest.raises(AgentUnavailable):
            rotation.rotate(core.deps, core.principal, core.environment_id, "deploy_key")
    env = core.env()
    assert env.pending_deploy_key.stage == "created" and env.deploy_key is None
    assert core.forge.secrets[SSH_KEY_SECRET] == old_secret


def test_rotation_needs_the_admin_scope_and_the_environment(core):
    reader = core.principal.__class__(
        core.principal.workspace_id, "key:d", Scope.deploy, Interface.rest, key_id="d"
    )
    with pytest.raises(Forbidden):
        rotation.rotate(core.deps, reader, core.environment_id, "deploy_key")
    elsewhere = core.principal.__class__(
        core.principal.workspace_id,
        "key:e",
        Scope.admin,
        Interface.rest,
        key_id="e",
        environment_ids=frozenset({"env_other"}),
    )
    with pytest.raises(Forbidden):
        rotation.rotate(core.deps, elsewhere, core.environment_id, "agent_token")


def test_an_agent_token_rotation_keeps_the_old_token_until_the_agent_connects_with_the_new(core):
    _with_vm(core)
    instance = core.instance()
    with pytest.raises(Conflict):
        rotation.rotate_agent_token(core.deps, core.env().model_copy(update={"instance_id": None}))
    handed: list[str] = []

    def agent() -> None:  # the agent: takes the token, answers, reconnects with it
        while not handed:
            for connection_id, call in list(core.agents.frames):
                if call.get("method") == "rotate_token":
                    handed.append(call["params"]["token"])
                    core.reply(connection_id, call, {"ok": True, "reconnecting": True})
                    break
            threading.Event().wait(0.01)
        connected = agents.authenticate(core.deps, f"Bearer {handed[0]}")
        assert connected is not None and connected.instance.id == instance.id
        assert connected.rotated  # the authorizer reads only; `$connect` adopts it
        agents.adopt_rotated_token(core.deps, instance.workspace_id, instance.id)

    thread = threading.Thread(target=agent)
    thread.start()
    result = rotation.rotate(core.deps, core.principal, core.environment_id, "agent_token")
    thread.join()
    assert result.status == "rotated"
    (new_token,) = handed
    assert agents.authenticate(core.deps, f"Bearer {new_token}") is not None
    after = core.instance()
    assert after.pending_agent_verifier is None and after.agent_token_rotated_at
    assert after.agent_token_id == instance.agent_token_id  # same id: the lookup still works
    assert "vmka_" not in after.model_dump_json() and "vmka_" not in result.model_dump_json()


def test_the_old_token_is_refused_once_the_new_one_connected_and_not_before(core):
    _with_vm(core)
    instance = core.instance()
    old = auth.reissue(auth.AGENT_TOKEN_PREFIX, instance.agent_token_id)
    core.deps.store.set_fields(instance, agent_verifier=old.verifier)  # a token we know
    new = auth.reissue(auth.AGENT_TOKEN_PREFIX, instance.agent_token_id)
    core.deps.store.set_fields(core.instance(), pending_agent_verifier=new.verifier)
    assert agents.authenticate(core.deps, f"Bearer {old.plaintext}") == agents.AgentLogin(
        core.instance()
    )  # still works
    rotated = agents.authenticate(core.deps, f"Bearer {new.plaintext}")
    assert rotated is not None and rotated.rotated
    assert agents.authenticate(core.deps, f"Bearer {old.plaintext}") is not None  # until $connect
    agents.adopt_rotated_token(core.deps, instance.workspace_id, instance.id)
    assert agents.authenticate(core.deps, f"Bearer {old.plaintext}") is None
    assert agents.authenticate(core.deps, f"Bearer {new.plaintext}") == agents.AgentLogin(
        core.instance()
    )


def test_an_offline_agent_gets_no_token_and_keeps_its_old_one(core):
    _with_vm(core)
    agentrpc.mark_gone(core.deps, core.instance())
    with pytest.raises(AgentUnavailable) as offline:
        rotation.rotate(core.deps, core.principal, core.environment_id, "agent_token")
    assert "old token keeps working" in offline.value.message
    assert (
        core.deps.store.get(
            Instance, core.principal.workspace_id, core.instance().id
        ).pending_agent_verifier
        is None
    )
