"""The agent's life on the WebSocket: connect, register, heartbeat, answer calls,
reconnect, and rotate the connection before API Gateway's two-hour limit.

Connections ("sessions") come and go; replies must not. A call's reply goes back on
the connection the call came from while it is open, else on the current one, else it
waits in an outbox that is flushed right after the next registration. The server
matches replies by call id, so any connection of this instance will do.

Planned reconnect is make-before-break: the new connection is opened and registered
first; the old one stops heartbeating, keeps reading until the server acknowledges the
new registration (calls posted just before that still arrive there), waits for its
in-flight calls, and only then closes. Nothing is in flight on a connection when it is
closed on purpose.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.protocol import State

from vmkit_agent import protocol
from vmkit_agent._version import __version__
from vmkit_agent.backoff import Backoff
from vmkit_agent.config import AgentConfig
from vmkit_agent.context import AgentState, HandlerContext, Reply
from vmkit_agent.errors import AgentError
from vmkit_agent.handlers import HANDLERS, HandlerSpec
from vmkit_agent.handlers.metrics import collect, cpu_pct
from vmkit_agent.handlers.register import registration
from vmkit_agent.host.base import Host
from vmkit_agent.redact import Redactor, url_without_secrets

OPEN_TIMEOUT_SECONDS = 15.0
# WebSocket pings find a half-open TCP connection (the heartbeat's send would only
# fail after TCP gives up, many minutes later). They are control frames, not messages.
KEEPALIVE_PING_SECONDS = 60.0
KEEPALIVE_TIMEOUT_SECONDS = 20.0
LATENCY_PROBE_TIMEOUT_SECONDS = 5.0
# How long a retiring connection keeps reading when the server does not acknowledge
# the new registration, and how long it waits for its in-flight calls.
RETIRE_GRACE_SECONDS = 5.0
RETIRE_MAX_WAIT_SECONDS = 120.0
# A reply older than this is useless to a server that gave up waiting.
OUTBOX_TTL_SECONDS = 600.0
SHUTDOWN_WAIT_SECONDS = 20.0

log = logging.getLogger("vmkit_agent")
# `ingress.STATE_PATH`, named here so an agent without SSH ingress never imports it.
SSH_INGRESS_STATE = "/var/lib/vmkit-agent/ssh-ingress.json"

SessionEnd = Literal["dropped", "rotate", "stop"]


class Session:
    """One WebSocket connection and the work tied to it."""

    def __init__(self, ws: ClientConnection):
        self.ws = ws
        self.opened_at = time.monotonic()
        self.register_id: str | None = None
        self.register_sent_at = 0.0
        self.register_acked = asyncio.Event()
        self.inflight: set[asyncio.Task[None]] = set()
        self.reader: asyncio.Task[None] | None = None
        self.heartbeat: asyncio.Task[None] | None = None

    @property
    def open(self) -> bool:
        return self.ws.state is State.OPEN

    def age(self) -> float:
        return time.monotonic() - self.opened_at


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        host: Host,
        *,
        recent_errors: Any = (),
        version: str = __version__,
    ):
        self.config = config
        self.host = host
        self.state = AgentState(
            version=version,
            instance_id=config.instance_id,
            gateway_url=config.gateway_url,
            recent_errors=recent_errors,
        )
        self.context = HandlerContext(host, self.state, self._gateway_latency)
        self._redact = Redactor([config.token])
        self._backoff = Backoff(config.backoff_base_seconds, config.backoff_max_seconds)
        self._active: Session | None = None
        self._sessions: set[Session] = set()
        self._outbox: list[tuple[float, list[str]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._reconnect_now = asyncio.Event()  # a new token: reconnect with it
        self._stopping = False
        self._restart = False

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> bool:
        """Serve until stopped. Returns True when the agent must restart (an upgrade
        installed a new version), False on a plain stop."""
        try:
            await asyncio.to_thread(cpu_pct, self.host, self.state)  # the first CPU baseline
        except (OSError, ValueError) as exc:
            log.warning("cannot read CPU counters: %s", exc)
        reconnecting = False
        try:
            while not self._stop.is_set():
                session = await self._connect(delay_first=reconnecting)
                if session is None:
                    break
                end = await self._serve(session)
                reconnecting = end == "dropped"
        finally:
            await self._shutdown()
        return self._restart

    # Connecting ----------------------------------------------------------------

    async def _connect(self, *, delay_first: bool) -> Session | None:
        """Open a connection, retrying forever with backoff; None once stopped."""
        url = url_without_secrets(self.config.gateway_url)
        delay = self._backoff.next_delay() if delay_first else 0.0
        if delay_first:
            log.info("reconnecting in %.2fs (attempt %d)", delay, self._backoff.attempt)
        while True:
            if delay and await self._stopped_within(delay):
                return None
            if self._stop.is_set():
                return None
            try:
                ws = await connect(
                    self.config.gateway_url,
                    additional_headers={"Authorization": f"Bearer {self.config.token}"},
                    user_agent_header=f"vmkit-agent/{self.state.version}",
                    compression=None,  # API Gateway does not negotiate it; zlib costs memory
                    open_timeout=OPEN_TIMEOUT_SECONDS,
                    ping_interval=KEEPALIVE_PING_SECONDS,
                    ping_timeout=KEEPALIVE_TIMEOUT_SECONDS,
                    close_timeout=5,
                    max_size=protocol.MAX_INCOMING_BYTES,
                )
                return Session(ws)
            except InvalidStatus as exc:
                status = exc.response.status_code
                level, problem = logging.WARNING, f"{url} answered HTTP {status} to the upgrade"
                if status in (401, 403):
                    level = logging.ERROR
                    problem = (
                        f"{url} refused the agent token (HTTP {status}); "
                        "check VMKIT_AGENT_TOKEN in /etc/vmkit/agent.env"
                    )
            except (OSError, TimeoutError, WebSocketException) as exc:
                level, problem = (
                    logging.WARNING,
                    f"cannot connect to {url}: {exc or type(exc).__name__}",
                )
            delay = self._backoff.next_delay()
            log.log(
                level, "%s; retrying in %.2fs (attempt %d)", problem, delay, self._backoff.attempt
            )

    async def _stopped_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except TimeoutError:
            return False
        return True

    # One connection ------------------------------------------------------------

    async def _serve(self, session: Session) -> SessionEnd:
        self._sessions.add(session)
        try:
            await self._register(session)
        except ConnectionClosed:
            self._sessions.discard(session)
            return "dropped"
        previous, self._active = self._active, session
        if previous is not None:
            self._spawn(self._retire(previous, session))
        session.reader = asyncio.create_task(self._read(session))
        session.heartbeat = asyncio.create_task(self._heartbeats(session))
        await self._flush_outbox(session)

        stop = asyncio.create_task(self._stop.wait())
        again = asyncio.create_task(self._reconnect_now.wait())
        remaining = max(0.0, self.config.max_connection_seconds - session.age())
        done, _ = await asyncio.wait(
            {session.reader, stop, again}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        stop.cancel()
        again.cancel()
        self._reconnect_now.clear()
        if self._stop.is_set():
            return "stop"
        if session.reader in done:
            if session.age() >= self.config.heartbeat_seconds:
                self._backoff.reset()  # it was stable; a flapping one keeps backing off
            log.warning(
                "lost the gateway connection after %.0fs (close code %s %s)",
                session.age(),
                session.ws.close_code,
                session.ws.close_reason or "",
            )
            return "dropped"
        log.info("planned reconnect after %.0fs on this connection", session.age())
        self._backoff.reset()
        return "rotate"

    async def _register(self, session: Session) -> None:
        ws = session.ws
        self.state.local_ip = ws.local_address[0] if ws.local_address else None
        self._clock_from_http_date(ws)
        session.register_id, frame = protocol.event("register", registration(self.host, self.state))
        session.register_sent_at = time.time()
        await ws.send(frame)
        self.state.connections_opened += 1
        self.state.connected_since = session.register_sent_at
        log.info(
            "connected to %s and registered as %s (agent %s)",
            url_without_secrets(self.config.gateway_url),
            self.config.instance_id,
            self.state.version,
        )

    async def _read(self, session: Session) -> None:
        try:
            async for frame in session.ws:
                self._on_frame(session, frame)
        except ConnectionClosed:
            pass
        finally:
            self._sessions.discard(session)
            if self._active is session:
                self._active = None
            if session.heartbeat:
                session.heartbeat.cancel()

    async def _heartbeats(self, session: Session) -> None:
        """The first right after registering (fresh metrics for a new connection), then
        one per interval: well inside API Gateway's 10-minute idle limit."""
        while True:
            await asyncio.to_thread(self._refresh_ssh_ingress)
            metrics = await asyncio.to_thread(collect, self.host, self.state)
            _, frame = protocol.event(
                "heartbeat", {"metrics": metrics, "uptime_s": self.state.uptime_s()}
            )
            try:
                await session.ws.send(frame)
            except ConnectionClosed:
                return
            await asyncio.sleep(self.config.heartbeat_seconds)

    def _refresh_ssh_ingress(self) -> None:
        """GitHub's runner ranges, asked again on each heartbeat once harden set up SSH
        ingress (`vmkit_agent.ingress`); imported only then."""
        if self.host.read_text(SSH_INGRESS_STATE) is None:
            return
        from vmkit_agent import ingress

        try:
            ingress.refresh(self.host)
        except Exception:  # a broken refresh must not stop the heartbeats
            log.exception("refreshing the SSH ingress rules failed; the rules in force stay")

    async def _retire(self, old: Session, new: Session) -> None:
        if old.heartbeat:
            old.heartbeat.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(new.register_acked.wait(), RETIRE_GRACE_SECONDS)
        if old.inflight:
            await asyncio.wait(set(old.inflight), timeout=RETIRE_MAX_WAIT_SECONDS)
        await old.ws.close(1000, "planned reconnect")
        log.info("closed the previous gateway connection (planned reconnect)")

    # Messages ------------------------------------------------------------------

    def _on_frame(self, session: Session, frame: str | bytes) -> None:
        try:
            message = protocol.parse(frame)
        except protocol.MalformedMessage as exc:
            log.warning("malformed message from the gateway: %s", exc.reason)
            reply = protocol.error_reply(exc.call_id, exc.method, "malformed_message", exc.reason)
            self._spawn(self._deliver([reply], session))
            return
        if message.type == protocol.CALL:
            task = self._spawn(self._call(session, message))
            session.inflight.add(task)
            task.add_done_callback(session.inflight.discard)
        elif (
            message.type in (protocol.RESULT, protocol.ERROR) and message.id == session.register_id
        ):
            self._on_register_reply(session, message)
        elif message.type in (protocol.RESULT, protocol.ERROR):
            log.debug("ignoring a %s for %s", message.type, message.id)
        else:
            reason = "the agent accepts calls from the gateway, not events"
            reply = protocol.error_reply(message.id, message.method, "malformed_message", reason)
            self._spawn(self._deliver([reply], session))

    def _on_register_reply(self, session: Session, message: protocol.Incoming) -> None:
        session.register_acked.set()
        if message.type == protocol.ERROR:
            log.error("the gateway refused the registration: %s", message.body.get("error"))
            return
        result = message.body.get("result")
        server_time = result.get("server_time") if isinstance(result, dict) else None
        if not isinstance(server_time, str):
            return
        try:
            server = datetime.fromisoformat(server_time).timestamp()
        except ValueError:
            log.warning("the gateway sent an unreadable server_time %r", server_time[:40])
            return
        midpoint = (session.register_sent_at + time.time()) / 2
        self.state.clock_skew_s = round(midpoint - server, 3)
        self.state.clock_source = "register_reply"

    def _clock_from_http_date(self, ws: ClientConnection) -> None:
        """A first skew estimate (±1 s) from the upgrade response's Date header."""
        date = ws.response.headers.get("Date") if ws.response else None
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError):
            return
        self.state.clock_skew_s = round(time.time() - server, 3)
        self.state.clock_source = "http_date"

    async def _call(self, session: Session, message: protocol.Incoming) -> None:
        call_id, method = message.id, message.method
        spec = HANDLERS.get(method or "")
        restart = False
        if self._stopping:
            frames = [
                protocol.error_reply(
                    call_id, method, "shutting_down", "the agent is restarting; call again"
                )
            ]
        elif spec is None:
            known = ", ".join(sorted(HANDLERS))
            frames = [
                protocol.error_reply(
                    call_id, method, "unknown_method", f"unknown method {method!r}; known: {known}"
                )
            ]
        else:
            frames, restart, new_token = await self._execute(spec, message)
        await self._deliver(frames, session)
        if new_token:
            self._adopt_token(new_token)
        if restart:
            self._restart = True
            self._stop.set()

    def _adopt_token(self, token: str) -> None:
        """A rotated token (already in agent.env): connect with it now; the current
        connection is retired once the new one is registered, as on a planned reconnect."""
        self.config = dataclasses.replace(self.config, token=token)
        self._redact = Redactor([token])
        log.info("got a new agent token; reconnecting with it")
        self._reconnect_now.set()

    async def _execute(
        self, spec: HandlerSpec, message: protocol.Incoming
    ) -> tuple[list[str], bool, str | None]:
        call_id, method = message.id or "", message.method or ""
        started = time.monotonic()
        try:
            handler = spec.load()
            if asyncio.iscoroutinefunction(handler):
                out = await handler(self.context, message.params)
            else:
                out = await asyncio.to_thread(handler, self.context, message.params)
            reply = out if isinstance(out, Reply) else Reply(out)
            frames = protocol.result_replies(
                call_id, method, reply.result, split_key=spec.split_key
            )
        except AgentError as exc:
            log.warning("%s %s failed: %s", method, call_id, exc.message)
            return (
                [protocol.error_reply(call_id, method, exc.code, self._redact(exc.message))],
                False,
                None,
            )
        except protocol.ResultTooLarge as exc:
            log.error("%s %s: %s", method, call_id, exc)
            return (
                [protocol.error_reply(call_id, method, "result_too_large", str(exc))],
                False,
                None,
            )
        except Exception as exc:
            log.exception("%s %s failed unexpectedly", method, call_id)
            detail = self._redact(f"{method} failed: {type(exc).__name__}: {exc}")
            return [protocol.error_reply(call_id, method, "internal_error", detail)], False, None
        log.info(
            "%s %s answered in %.0f ms (%d frame%s)",
            method,
            call_id,
            (time.monotonic() - started) * 1000,
            len(frames),
            "" if len(frames) == 1 else "s",
        )
        return frames, reply.restart_agent, reply.new_token

    async def _deliver(self, frames: list[str], origin: Session) -> None:
        """Send on the call's own connection, else the current one, else keep the
        reply until the next registration. A chunked reply is resent whole on the
        next connection: the server keys chunks by (id, index), so repeats are harmless."""
        candidates = [origin] if origin is self._active else [origin, self._active]
        for session in candidates:
            if session is None or not session.open:
                continue
            try:
                for frame in frames:
                    await session.ws.send(frame)
                return
            except ConnectionClosed:
                continue
        self._outbox.append((time.monotonic() + OUTBOX_TTL_SECONDS, frames))
        log.warning("no gateway connection; holding a reply until the agent reconnects")

    async def _flush_outbox(self, session: Session) -> None:
        pending, self._outbox = self._outbox, []
        now = time.monotonic()
        for deadline, frames in pending:
            if deadline < now:
                log.warning(
                    "dropped a reply that waited %.0fs for a connection", OUTBOX_TTL_SECONDS
                )
                continue
            await self._deliver(frames, session)

    async def _gateway_latency(self) -> float | None:
        session = self._active
        if session is None or not session.open:
            return None
        try:
            pong = await session.ws.ping()
            return await asyncio.wait_for(pong, LATENCY_PROBE_TIMEOUT_SECONDS)
        except (ConnectionClosed, TimeoutError):
            return None

    # Stopping ------------------------------------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _shutdown(self) -> None:
        """Finish the calls in flight (an upgrade's reply included), then close every
        connection with 1001 so the server knows the agent left on purpose."""
        self._stopping = True
        sessions = list(self._sessions)
        calls = [task for session in sessions for task in session.inflight]
        if calls:
            await asyncio.wait(calls, timeout=SHUTDOWN_WAIT_SECONDS)
        reason = "agent restarting" if self._restart else "agent stopping"
        for session in sessions:
            await session.ws.close(1001, reason)
        for task in list(self._tasks):
            task.cancel()
        workers = [t for s in sessions for t in (s.reader, s.heartbeat) if t] + list(self._tasks)
        await asyncio.gather(*workers, return_exceptions=True)
        log.info("stopped (%s)", reason)
