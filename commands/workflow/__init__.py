"""The migration workflow: requests, their states, approvals, queueing and execution."""
