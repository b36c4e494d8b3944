#!/usr/bin/env bash
# `manage.py check --deploy` with production-like values (DEBUG off, real-looking keys).
set -euo pipefail
PY=${1:-.venv/bin/python}
ENV_FILE="" DEBUG=false \
    SECRET_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    FIELD_ENCRYPTION_KEYS="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
    BLIND_INDEX_KEY="$("$PY" -c 'import secrets; print(secrets.token_urlsafe(48))')" \
    BACKUP_ENCRYPTION_KEY="$("$PY" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')" \
    ALLOWED_HOSTS=crm.example.com \
    DATABASE_URL=postgres://crm:unused@127.0.0.1:1/crm \
    REDIS_URL=redis://127.0.0.1:1/0 \
    SECURE_HSTS_SECONDS=31536000 \
    "$PY" manage.py check --deploy --fail-level WARNING
