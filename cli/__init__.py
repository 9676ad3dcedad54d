"""The `agentorch` command line: run the platform locally (`up`), migrate databases, print versions."""
