"""Runspace pools (WinRM shells) and the pipelines running in them.

psrpcore is not thread-safe, so each shell has one lock (a condition) guarding its runspace
pool, every pipeline of the pool and the outgoing queues. Each pipeline runs the command runner
in its own thread; whatever it writes is fragmented at once into one queue per target (the pool,
or one pipeline), because psrpcore's single send buffer cannot serve a Receive for pipeline B
while it holds data for pipeline A.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from psrpcore import ServerPipeline, ServerRunspacePool
from psrpcore._events import (
    CreatePipelineEvent,
    GetAvailableRunspacesEvent,
    ResetRunspaceStateEvent,
    SetMaxRunspacesEvent,
    SetMinRunspacesEvent,
)
from psrpcore._payload import PSRPPayload, StreamType
from psrpcore.types import (
    ErrorRecord,
    PipelineState,
    PSInvocationState,
    PSRPMessageType,
    PSVersion,
    RunspacePoolState,
)

from lab.pipeline import (
    CommandCall,
    CommandRunner,
    InvocationContext,
    LabError,
    LabValue,
    Progress,
    TerminatingError,
)
from lab.winrm import clixml

log = logging.getLogger(__name__)

# Bytes of one PSRP payload handed to a Receive; many fit in one reply.
_FRAGMENT_BYTES = 32 * 1024
# Room kept in a Receive reply for the envelope around the base64 streams.
_ENVELOPE_OVERHEAD = 2048
_STOP_GRACE_SECONDS = 2.0
# PowerShell 5.1 as shipped with Windows Server 2022 (build 20348); the patch level is a guess.
_PS_VERSION = "5.1.20348.2652"
_BUILD_VERSION = "10.0.20348.2652"
_CONNECT_REPLY_TYPES = (PSRPMessageType.SessionCapability, PSRPMessageType.RunspacePoolInitData)


class UnknownCommandError(KeyError):
    """A Receive/Send/Signal names a command id this shell does not have."""


class NotDisconnectedError(RuntimeError):
    """Reconnect or Connect to a shell that is not disconnected."""


class ShellClosedError(RuntimeError):
    """The shell was deleted while a request waited on it."""


@dataclass
class ReceiveResult:
    """What one Receive returns: base64-able payloads and whether the command is done."""

    payloads: list[bytes]
    done: bool


class Shell:
    """One WinRM shell: a psrpcore server runspace pool on one simulated host."""

    def __init__(
        self,
        shell_id: str,
        host: str,
        owner: str,
        client_ip: str,
        runner: CommandRunner,
        max_envelope_size: int,
    ) -> None:
        self.shell_id = shell_id
        self.host = host
        self.owner = owner
        self.client_ip = client_ip
        self.created = time.monotonic()
        self._runner = runner
        self._fragment_bytes = max(
            64, min(_FRAGMENT_BYTES, (max_envelope_size - _ENVELOPE_OVERHEAD) * 3 // 4)
        )
        self._cond = threading.Condition()
        self._pool = ServerRunspacePool(application_private_data=_private_data())
        self._outbox: dict[uuid.UUID | None, deque[bytes]] = {None: deque()}
        self._runs: dict[uuid.UUID, PipelineRun] = {}
        self._closed = False

    # Everything below that touches psrpcore holds self._cond.

    def feed(self, data: bytes, command_id: str | None = None) -> None:
        """Give the pool PSRP fragments (creationXml, a Command's arguments, or a Send)."""
        with self._cond:
            pipeline_id = None
            if command_id is not None:
                pipeline_id = _uuid(command_id)
                if pipeline_id not in self._pool.pipeline_table:
                    # Registered before its fragments are fed, or psrpcore cannot find it.
                    ServerPipeline(self._pool, pipeline_id)
                    self._outbox[pipeline_id] = deque()
            self._pool.receive_data(PSRPPayload(data, StreamType.default, pipeline_id))
            while (event := self._pool.next_event()) is not None:
                self._handle_event(event)
            self._flush()

    def _handle_event(self, event: object) -> None:
        if isinstance(event, CreatePipelineEvent):
            pipeline = self._pool.pipeline_table[event.pipeline_id]
            calls = clixml.command_calls(event.pipeline)
            run = PipelineRun(self, pipeline, calls, self._runner, self._cond)
            self._runs[event.pipeline_id] = run
            run.start()
        elif isinstance(event, GetAvailableRunspacesEvent):
            self._pool.runspace_availability_response(event.ci, self._pool.max_runspaces)
        elif isinstance(
            event, SetMaxRunspacesEvent | SetMinRunspacesEvent | ResetRunspaceStateEvent
        ):
            self._pool.runspace_availability_response(event.ci, True)

    def _flush(self) -> None:
        """Move whatever psrpcore queued into the per-target outboxes; wake waiting Receives."""
        while (payload := self._pool.data_to_send(self._fragment_bytes)) is not None:
            self._outbox.setdefault(payload.pipeline_id, deque()).append(payload.data)
        self._cond.notify_all()

    def receive(self, command_id: str | None, max_bytes: int, timeout: float) -> ReceiveResult:
        """Wait up to `timeout` for output of the pool or one command; empty means timed out."""
        key = _uuid(command_id) if command_id is not None else None
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise ShellClosedError(self.shell_id)
                if key is not None and key not in self._outbox:
                    raise UnknownCommandError(command_id)
                queue = self._outbox[key]
                run = self._runs.get(key) if key is not None else None
                if queue or (run is not None and run.finished):
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return ReceiveResult([], done=False)
                self._cond.wait(remaining)
            payloads: list[bytes] = []
            budget = max_bytes
            while queue and (not payloads or len(queue[0]) <= budget):
                payloads.append(queue.popleft())
                budget -= len(payloads[-1])
            done = run is not None and run.finished and not queue
            return ReceiveResult(payloads, done)

    def stop_command(self, command_id: str) -> None:
        """Ctrl-C: ask the runner to stop; the pipeline reports Stopped like PowerShell does."""
        with self._cond:
            run = self._runs.get(_uuid(command_id))
            if run is None:
                raise UnknownCommandError(command_id)
        run.request_stop()
        run.join(_STOP_GRACE_SECONDS)
        with self._cond:
            run.finish_stopped()

    def terminate_command(self, command_id: str) -> None:
        """Terminate signal: forget the command (pypsrp sends it when closing a PowerShell)."""
        key = _uuid(command_id)
        with self._cond:
            run = self._runs.pop(key, None)
            self._outbox.pop(key, None)
            pipeline = self._pool.pipeline_table.pop(key, None)
            if run is None and pipeline is None:
                raise UnknownCommandError(command_id)
            self._cond.notify_all()
        if run is not None:
            run.request_stop()

    def close(self) -> None:
        """Delete: stop every command's runner (their side effects are theirs) and drop state."""
        with self._cond:
            self._closed = True
            runs = list(self._runs.values())
            self._runs.clear()
            self._cond.notify_all()
        for run in runs:
            run.request_stop()

    @property
    def disconnected(self) -> bool:
        """True between a Disconnect and the next Reconnect or Connect."""
        with self._cond:
            return bool(self._pool.state == RunspacePoolState.Disconnected)

    def commands(self) -> list[tuple[str, bool]]:
        """(command id, still running) for each command with something left to deliver.

        A finished command whose output was all received is left out (a guess: Windows
        drops such commands from the enumeration once the client has seen their end).
        """
        with self._cond:
            return [
                (str(key).upper(), not run.finished)
                for key, run in self._runs.items()
                if not run.finished or self._outbox.get(key)
            ]

    def has_command(self, command_id: str) -> bool:
        """True if the shell knows `command_id`."""
        with self._cond:
            return _uuid(command_id) in self._runs

    def disconnect(self) -> None:
        """Disconnect: the pool and its commands live on; output piles up until a connect."""
        with self._cond:
            if self._pool.state == RunspacePoolState.Opened:
                self._pool.begin_disconnect()
                self._pool.disconnect()

    def reconnect(self) -> None:
        """Reconnect by the client that disconnected (same session): nothing to renegotiate."""
        with self._cond:
            if self._pool.state != RunspacePoolState.Disconnected:
                raise NotDisconnectedError(self.shell_id)
            # psrpcore has no call for this case: the PSRP state simply resumes.
            self._pool.state = RunspacePoolState.Opened

    def connect(self, data: bytes) -> bytes:
        """Connect by a new client: run the PSRP connect handshake, return connectResponseXml.

        Windows answers with SessionCapability and RunspacePoolInitData and sends the pool's
        Opened state in the next Receive (see the recordings); ApplicationPrivateData is not
        sent again.
        """
        with self._cond:
            if self._pool.state != RunspacePoolState.Disconnected:
                raise NotDisconnectedError(self.shell_id)
            self._pool.connect()
            self._pool.prepare_message(self._pool.our_capability)
            self._pool.receive_data(PSRPPayload(data, StreamType.default, None))
            while (event := self._pool.next_event()) is not None:
                self._handle_event(event)
            # psrpcore queued all of its answer at once; split it the way Windows does.
            queued = self._pool._send_buffer
            later = [m for m in queued if m.message_type == PSRPMessageType.RunspacePoolState]
            queued[:] = [m for m in queued if m.message_type in _CONNECT_REPLY_TYPES]
            reply = b""
            while (payload := self._pool.data_to_send()) is not None:
                reply += payload.data
            queued.extend(later)
            self._flush()
            return reply


class PipelineRun:
    """One pipeline running the command runner in its own thread; the runner's `PipelineSink`."""

    def __init__(
        self,
        shell: Shell,
        pipeline: ServerPipeline,
        calls: Sequence[CommandCall],
        runner: CommandRunner,
        lock: threading.Condition,
    ) -> None:
        self._shell = shell
        self._pipeline = pipeline
        self._calls = calls
        self._runner = runner
        self._lock = lock
        self.context = InvocationContext(host=shell.host, user=shell.owner, session=shell.shell_id)
        self.finished = False
        self._thread = threading.Thread(
            target=self._run, name=f"lab-pipeline-{pipeline.pipeline_id}", daemon=True
        )

    def start(self) -> None:
        """Mark the pipeline Running and start the runner thread (called with the lock held).

        psrpcore's `start()` would also send a PipelineState Running message, which Windows
        never sends (see the recordings), so only the state changes.
        """
        self._pipeline.state = PSInvocationState.Running
        self._thread.start()

    def request_stop(self) -> None:
        """Tell the runner to stop at its next check."""
        self.context.stop_requested.set()

    def join(self, timeout: float) -> None:
        """Wait up to `timeout` for the runner thread to end."""
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def finish_stopped(self) -> None:
        """Report Stopped unless the pipeline already ended (lock held)."""
        if not self.finished:
            self._pipeline.stop()
            self._end()

    def _run(self) -> None:
        failure: ErrorRecord | None = None
        try:
            self._runner.run_pipeline(self.context, self._calls, self)
        except TerminatingError as exc:
            failure = clixml.error_record(exc.error)
        except Exception as exc:
            log.exception(
                "lab command runner crashed",
                extra={"host": self._shell.host, "commands": [c.name for c in self._calls]},
            )
            failure = clixml.error_record(
                LabError(
                    message=str(exc) or type(exc).__name__,
                    fully_qualified_error_id="LabRunnerCrashed",
                    category="NotSpecified",
                    exception_type="System.Management.Automation.RuntimeException",
                )
            )
        with self._lock:
            if self.finished:
                return
            if self.context.stop_requested.is_set():
                self._pipeline.stop()
            elif failure is not None:
                # psrpcore has no public way to fail a pipeline: send the state message ourselves.
                self._pipeline.prepare_message(
                    PipelineState(
                        PipelineState=int(PSInvocationState.Failed),
                        ExceptionAsErrorRecord=failure,
                    )
                )
                self._pipeline.state = PSInvocationState.Failed
            else:
                self._pipeline.complete()
            self._end()

    def _end(self) -> None:
        self.finished = True
        self._shell._flush()

    def _write(self, emit: Callable[[ServerPipeline], None]) -> None:
        with self._lock:
            # Output written after a stop or after the client closed the pipeline is dropped,
            # as PowerShell drops it once the pipeline is no longer Running.
            if self.finished or self._pipeline.state != PSInvocationState.Running:
                return
            emit(self._pipeline)
            self._shell._flush()

    def write_output(self, value: LabValue) -> None:
        """PipelineSink: one output object."""
        converted = clixml.to_clixml(value)
        self._write(lambda pipeline: pipeline.write_output(converted))

    def write_error(self, error: LabError) -> None:
        """PipelineSink: a non-terminating error record."""
        record = clixml.error_record(error)
        self._write(
            lambda pipeline: pipeline.write_error(
                record.Exception,
                category_info=record.CategoryInfo,
                target_object=record.TargetObject,
                fully_qualified_error_id=record.FullyQualifiedErrorId,
                invocation_info=record.InvocationInfo,
            )
        )

    def write_warning(self, message: str) -> None:
        """PipelineSink: a warning record."""
        self._write(lambda pipeline: pipeline.write_warning(message))

    def write_verbose(self, message: str) -> None:
        """PipelineSink: a verbose record."""
        self._write(lambda pipeline: pipeline.write_verbose(message))

    def write_progress(self, progress: Progress) -> None:
        """PipelineSink: a progress record."""
        self._write(
            lambda pipeline: pipeline.write_progress(
                progress.activity,
                progress.activity_id,
                progress.status,
                percent_complete=progress.percent,
                seconds_remaining=progress.seconds_remaining,
            )
        )


def _private_data() -> dict[str, object]:
    """What Windows Server 2022's PowerShell 5.1 tells a client about itself when a pool opens."""
    return {
        "PSVersionTable": {
            "PSVersion": PSVersion(_PS_VERSION),
            "PSEdition": "Desktop",
            "PSCompatibleVersions": [
                PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", _PS_VERSION)
            ],
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "BuildVersion": PSVersion(_BUILD_VERSION),
            "WSManStackVersion": PSVersion("3.0"),
        }
    }


def _uuid(command_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(command_id)
    except ValueError:
        raise UnknownCommandError(command_id) from None
