"""The Hyper-V adapter over WinRM (pypsrp): sessions, error classification, the port."""
