"""The `agentorch` command line: run the platform locally (`up`), migrate databases, print versions, and call the
platform through its gateway (`cli.commands`: orchestrations, plans, runs, checkpoints, credentials, api-keys)."""
