# syntax=docker/dockerfile:1
# quant-advisor API: multi-stage build, non-root user, health check.
FROM python:3.11-slim AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml README.md ./
COPY advisor ./advisor
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim AS runtime
RUN groupadd --system --gid 10001 advisor \
    && useradd --system --uid 10001 --gid advisor --home-dir /app advisor
WORKDIR /app
RUN mkdir -p /app/data && chown advisor:advisor /app/data
COPY --from=build /opt/venv /opt/venv
COPY --chown=advisor:advisor measurements ./measurements
COPY --chown=advisor:advisor models ./models
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ADVISOR_MEASUREMENTS_DIR=/app/measurements \
    ADVISOR_MODELS_DIR=/app/models \
    ADVISOR_DATA_DIR=/app/data \
    ADVISOR_HOST=0.0.0.0
# Writes need ADVISOR_API_TOKEN (or ADVISOR_WRITES_ENABLED=false); without one it refuses to start.
VOLUME ["/app/data"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=2).status != 200)"]
CMD ["quant-advisor", "serve", "--host", "0.0.0.0", "--port", "8000"]
