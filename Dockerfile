# Pulse's container image: `docker build -t pulse .`, then `docker run -p 4000:4000 -v pulse-data:/data pulse`.
#
# Node 24 (the current LTS line); Pulse itself needs 20.11 or later (CI runs both), but Node 20 reached its end of
# life in April 2026. Both stages use the same major, since
# better-sqlite3 is compiled in the first for the Node that runs the second. Debian bookworm, as on the machines
# Pulse is developed and tested on.
ARG NODE_IMAGE=node:24-bookworm

# Build: the full image has python3, make and g++, which better-sqlite3's native build needs when no prebuilt
# binary matches. `npm ci` installs from the lockfile and runs `prepare` (scripts/prepare.mjs): the Prisma clients
# are generated and dist/ is built (the server with tsc, the dashboard page with Vite, the tracker with esbuild).
# `npm prune` then removes the compiler, bundler, Prisma CLI and test tools, reruns no install script, and keeps the
# compiled better-sqlite3.
# --omit=optional also drops the two optional production packages Node never loads (pg-cloudflare is for Cloudflare
# Workers, @escape.tech/graphql-armor-types holds type declarations).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY . .
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --omit=optional --no-audit --no-fund

# Runtime: the slim image (no compiler, no curl) with only what `node dist/main.js` reads. Paths are those Pulse
# resolves relative to dist/: ../package.json, ../schema.graphql, ../prisma/migrations/,
# ../prisma/postgresql/migrations/ (applied by Pulse itself at start), dist/dashboard/ and dist/pulse.js.
FROM ${NODE_IMAGE}-slim
WORKDIR /app
ENV NODE_ENV=production \
  HOST=0.0.0.0 \
  PORT=4000 \
  DATABASE_URL=file:/data/pulse.db
COPY --from=build /app/package.json /app/schema.graphql ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/prisma/migrations ./prisma/migrations
COPY --from=build /app/prisma/postgresql/migrations ./prisma/postgresql/migrations

# The snapshot volume, owned by the image's unprivileged `node` user (uid 1000): a new named volume takes this
# ownership; a bind-mounted folder must be writable by uid 1000. The files under /app stay root's, read-only to Pulse.
RUN mkdir /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 4000

# Ready, not just alive: /readyz answers 503 while the snapshot is restored and while a fleet's Redis is
# unreachable. Node's own fetch, since the slim image has no curl or wget.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT || 4000}/readyz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# SIGTERM makes Pulse end its subscriptions, write the final snapshot and exit 0. The exec form starts node as
# PID 1 with no shell in between (the base image's entrypoint execs it), so the signal reaches Pulse, which installs
# its own SIGTERM and SIGINT handlers; Pulse starts no child processes, so there are no zombies to reap and no init
# is needed (`docker run --init` adds one if wanted). Give the final snapshot time: `docker stop -t 30`,
# `stop_grace_period` in compose.
STOPSIGNAL SIGTERM
CMD ["node", "dist/main.js"]
