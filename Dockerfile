# One image for every Fulcrum process; docker-compose.yml picks the command and the privileges.
FROM debian:bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv ipvsadm iptables iproute2 keepalived kmod ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/fulcrum
COPY pyproject.toml ./
COPY . .
RUN python3 -m venv /opt/fulcrum/.venv && /opt/fulcrum/.venv/bin/pip install --no-cache-dir . \
 && useradd --system --home /var/lib/fulcrum --create-home fulcrum
ENV PATH=/opt/fulcrum/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=appliance.settings \
    FULCRUM_DATA_DIR=/var/lib/fulcrum
EXPOSE 8000
CMD ["gunicorn", "appliance.wsgi", "--bind", "0.0.0.0:8000", "--workers", "3"]
