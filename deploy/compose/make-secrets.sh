#!/bin/sh
# Writes fresh random secrets for deploy/docker-compose.yml into compose/secrets/ (or DIR), once:
# existing files are kept. The folder is git-ignored; nothing secret is in the compose file.
#   deploy/compose/make-secrets.sh [DIR]
set -eu
dir=${1:-$(cd "$(dirname "$0")" && pwd)/secrets}
mkdir -p "$dir"
chmod 0700 "$dir"
umask 077
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(32))'; }
for name in postgres_password grafana_admin_password; do
    if [ ! -f "$dir/$name" ]; then
        random >"$dir/$name"
        # Compose mounts these files as they are: PostgreSQL and Grafana read them as their own
        # users, not as yours. The folder (0700) keeps them private on this machine.
        chmod 0644 "$dir/$name"
    fi
done
if [ ! -f "$dir/consentry.env" ]; then
    cat >"$dir/consentry.env" <<ENV
CONSENTRY_HASH_KEY=$(random)
CONSENTRY_APP_BACKEND_KEY=$(random)
CONSENTRY_ADMIN_TOKEN_OPS=$(random)
CONSENTRY_DB_DSN=postgresql://consentry:$(cat "$dir/postgres_password")@postgres:5432/consentry
# CONSENTRY_OPENAI_API_KEY=sk-...
ENV
fi
echo "secrets in $dir (proxy key: CONSENTRY_APP_BACKEND_KEY, admin token: CONSENTRY_ADMIN_TOKEN_OPS in consentry.env)"
