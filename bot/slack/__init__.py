"""The Slack front end: the bolt app (`create_app`), its listeners, Block Kit rendering, the
notifier, the pacer for Slack's rate limits, and `hvbot serve` (bot.slack.serve)."""
