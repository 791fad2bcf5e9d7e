"""The migration workflow: requests, their states, approvals, queueing and execution.

- `service.Workflow`: the API the Slack layer and the CLI call (submit, approve, reject,
  cancel, status, expire_stale, recover, shutdown).
- `machine`: the state machine's transition table and `WorkflowError`.
- `approvals`: approver policy and the `ApproverDirectory` port.
- `preflight`: the `Preflight` port and when an approval becomes void.
- `notify`: the `Notifier` port and the progress cadence; `cards`: the approval card.
- `scheduler`: per-host slots and the queue; `dispatch`: approved requests to those slots;
  `execution`: starting runs; `following`: following them (and re-attaching after a restart);
  `recovery`: what a new process does with what an old one left open; `ticker`: the timer
  that expires stale approvals.
- `records`/`store`: the audit store contract; `memory_store`: an in-memory implementation.
- `codec`: typed requests and invocations to and from stored JSON.
"""
