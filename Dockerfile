# syntax=docker/dockerfile:1
# One image for every agentorch process; the command picks the service:
#   docker run IMAGE services.registry | services.runs | services.credentials | gateway | cli.main migrate --service X
# One image keeps the services' shared runtime and generated contracts in lock-step and is built once per commit;
# each Kubernetes Deployment still rolls out, scales and is configured independently.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/agentorch && /opt/agentorch/bin/pip install --upgrade pip==26.3
COPY constraints.txt pyproject.toml README.md ./
COPY proto ./proto
COPY services ./services
COPY gateway ./gateway
COPY cli ./cli
COPY reference_agents ./reference_agents
RUN /opt/agentorch/bin/pip install -c constraints.txt .

FROM python:3.11-slim
ENV PATH=/opt/agentorch/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 agentorch && useradd --system --uid 10001 --gid agentorch --no-create-home agentorch
COPY --from=build /opt/agentorch /opt/agentorch
USER 10001:10001
WORKDIR /tmp
EXPOSE 50051 50061 50062 50063
ENTRYPOINT ["python", "-m"]
CMD ["services.registry"]
