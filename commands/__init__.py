"""The chat-agnostic core of hvbot: command language, plans, workflow, diagnosis and ports.

This package imports nothing from Slack, pypsrp, ldap3 or sqlite; `bot/` wires it to them.
"""
