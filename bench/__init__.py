"""Benchmarks of agentorch: scripts that start their own processes and database, print figures next to a
reference measured in the same run (pgbench, a bare asyncpg process) and write a JSON result. Never tests: they
exit non-zero only when something breaks, never because a figure is slow. `python -m bench --help`."""
