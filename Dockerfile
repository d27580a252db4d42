# Consentry: one image, everything installed at build time; nothing is downloaded at run time.
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY models ./models
COPY rules ./rules
COPY proxy ./proxy
RUN pip install . && useradd --system --uid 10001 consentry && mkdir -p /data && chown consentry /data

USER consentry
WORKDIR /data
# Outside loopback the built-in development key is refused: mount a configuration with `apps`
# and pass secrets as CONSENTRY_* environment variables.
ENV CONSENTRY_HOST=0.0.0.0 \
    CONSENTRY_DB_PATH=/data/consentry.db
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/readyz').status != 200)"
ENTRYPOINT ["consentry", "serve"]
