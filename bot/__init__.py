"""hvbot adapters (Slack, WinRM, LDAP, SQLite), configuration and the command line."""
