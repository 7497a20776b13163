# The engine's image: worker, HTTP service, CLI and emulators (one image, several commands).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY billing billing
COPY host host
COPY providers providers
COPY activities activities
COPY workflows workflows
COPY webhooks webhooks
COPY starter starter
COPY emulators emulators
COPY worker.py ./
# A regular (non-editable) install compiles the sources, so workflow sandboxes load bytecode. The otlp extra
# is the OTLP exporter docker-compose.yml's OTEL_*_EXPORTER=otlp needs.
RUN pip install '.[otlp]' && useradd --system --uid 10001 billing && mkdir /keys && chown billing /keys
USER billing
ENTRYPOINT ["billing"]
CMD ["worker"]
