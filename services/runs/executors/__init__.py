"""Executors that call real agents for `agent` steps.

`dispatch.AgentExecutor` is the StepExecutor (app/executor.py) the runs service plugs into its engine: it reads the
protocol from the agent's pinned config (`a2a` or `openai`), resolves the step's credentials through the vault at
call time and hands the call to `a2a.A2AProtocol` or `openai.OpenAIProtocol`. What both protocols share has a
module each: `config` (the agent config schema), `secrets` (credential headers and secret scrubbing), `transport`
(the pooled client, one POST with bounded retries, error answers, bounded bodies) and `sse` (Server-Sent Events
decoding). docs/agents.md describes the agent config format.
"""
