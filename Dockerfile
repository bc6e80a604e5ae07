# easlab's image: the server on python:3.11-slim, its data folder (database, TLS material, the
# running server's settings) in the volume /data, run as the unprivileged user easlab.
#   docker build -t easlab .
#   docker run -p 127.0.0.1:8080:8080 -p 127.0.0.1:2525:2525 -v easlab-data:/data easlab
# docker-compose.yml builds this image once and runs it on SQLite or PostgreSQL.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build

# The dependencies first, read from pyproject.toml alone (setup.py lists none): this layer is
# rebuilt only when pyproject.toml changes, not at every edit of the sources.
COPY pyproject.toml ./
RUN python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies'], sep=chr(10))" \
        > requirements.txt \
    && pip install -r requirements.txt

# Then easlab itself, as a regular (not editable) install: the image needs no checkout at run time.
COPY . .
RUN pip install --no-deps . \
    && rm -rf /build

# An unprivileged user owning the data folder; chown before VOLUME, since Docker discards what a
# build step changes in a folder after it is declared a volume.
RUN groupadd --system --gid 10001 easlab \
    && useradd --system --uid 10001 --gid easlab --home-dir /data --shell /usr/sbin/nologin easlab \
    && mkdir -p /data \
    && chown easlab:easlab /data

# The server binds all interfaces inside the container (easlab's own default is loopback), so the
# published ports reach it.
ENV EASLAB_HOME=/data \
    EASLAB_HOST=0.0.0.0 \
    EASLAB_PORT=8080 \
    EASLAB_SMTP_PORT=2525

VOLUME ["/data"]
WORKDIR /data
USER easlab

# 8080: EAS, Autodiscover, the admin centre and the API over HTTP; 8443: the same over HTTPS when
# EASLAB_TLS=1 (serve --tls: the lab CA is made once in /data); 2525: SMTP for inbound mail.
EXPOSE 8080 8443 2525

# /healthz answers 200 when the store answers and SMTP listens (server/health.py); slim has no curl,
# and urlopen raises on 503, which exits 1 (unhealthy).
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('EASLAB_PORT', '8080') + '/healthz', timeout=8)"]

CMD ["easlab", "serve"]
