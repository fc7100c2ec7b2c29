# Landed: slim, non-root; migrates, then serves. Configure only through LANDED_* variables
# (LANDED_DATABASE_URL must point at your PostgreSQL in production).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN python -m venv /opt/landed \
 && /opt/landed/bin/pip install --no-cache-dir --disable-pip-version-check .

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 landed
COPY --from=build /opt/landed /opt/landed
WORKDIR /srv/landed
COPY --chown=landed:landed alembic.ini ./
COPY --chown=landed:landed migrations ./migrations
USER landed
ENV PATH=/opt/landed/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    LANDED_HOST=0.0.0.0 \
    LANDED_PORT=8000 \
    LANDED_WORKERS=2 \
    LANDED_DATA_DIR=/srv/landed/data
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/healthz')" || exit 1
CMD ["landed", "serve"]
