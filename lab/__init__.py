"""The lab: simulated Hyper-V hosts that speak real WinRM/PSRP, for the demo and the tests.

Nothing in `bot/` or `commands/` imports this package; only the demo and tests wire it in.
"""
