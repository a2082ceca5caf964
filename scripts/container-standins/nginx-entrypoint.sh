#!/bin/sh
# The two features of the official nginx image's entrypoint that compose.fleet.yaml uses: with
# NGINX_ENTRYPOINT_LOCAL_RESOLVERS set, NGINX_LOCAL_RESOLVERS holds the container's DNS servers; each
# /etc/nginx/templates/*.template is rendered into /etc/nginx/conf.d/ with envsubst, replacing only the variables
# NGINX_ENVSUBST_FILTER matches (all defined ones when it is unset).
set -e
if [ -n "${NGINX_ENTRYPOINT_LOCAL_RESOLVERS:-}" ]; then
  NGINX_LOCAL_RESOLVERS=$(awk '$1 == "nameserver" { if ($2 ~ ":") printf "[%s] ", $2; else printf "%s ", $2 }' /etc/resolv.conf)
  export NGINX_LOCAL_RESOLVERS="${NGINX_LOCAL_RESOLVERS% }"
fi
names=$(env | cut -d= -f1 | grep -E "${NGINX_ENVSUBST_FILTER:-.*}" | sed 's/^/$/' | tr '\n' ' ')
for template in /etc/nginx/templates/*.template; do
  [ -f "$template" ] || continue
  out="/etc/nginx/conf.d/$(basename "$template" .template)"
  envsubst "$names" < "$template" > "$out"
  echo "$0: rendered $template into $out" >&2
done
exec "$@"
