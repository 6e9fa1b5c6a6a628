#!/bin/sh
# Entrypoint of every service image (deploy/Dockerfile): migrate the database to head, then
# serve the API and the consumers. SERVICE (e.g. approval-svc) and SERVICE_PORT come from the
# image's build arguments.
set -eu

package="$(printf '%s' "$SERVICE" | tr '-' '_')"
prefix="$(printf '%s' "${SERVICE%-svc}" | tr '[:lower:]' '[:upper:]')"

# In a container the service listens on every interface, on the image's port, unless the
# environment says otherwise (e.g. APPROVAL_HOST / APPROVAL_PORT).
host="$(printenv "${prefix}_HOST" || true)"
port="$(printenv "${prefix}_PORT" || true)"
export "${prefix}_HOST=${host:-0.0.0.0}"
export "${prefix}_PORT=${port:-$SERVICE_PORT}"

python -m "$package" migrate
# exec: the server replaces this shell and receives the container's signals itself.
exec python -m "$package" serve
