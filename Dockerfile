# syntax=docker/dockerfile:1
#
# Sluice's image: the gateway, the queue-proxy and the demo predictor, one CLI.
#
#   docker build -t ghcr.io/sluice-gateway/sluice:0.1.0 .
#   docker run --rm -p 8080:8080 -v /path/to/dir-with-sluice.yaml:/etc/sluice:ro ghcr.io/sluice-gateway/sluice:0.1.0
#   docker run --rm ghcr.io/sluice-gateway/sluice:0.1.0 predictor --model iris --host 0.0.0.0 --port 8080
#
# Two stages: the first compiles TypeScript and drops the dev dependencies; the second carries only
# dist/, the production node_modules/ and package.json — no sources, no compiler, no npm cache.

# ---- build ---------------------------------------------------------------------------------------
FROM node:20-slim AS build
WORKDIR /app

# Dependencies first, so that a change in src/ reuses this layer. --ignore-scripts: the package's
# `prepare` script compiles src/, which is not copied yet (and no dependency needs an install script).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

COPY tsconfig.json ./
COPY src ./src
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------------
FROM node:20-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production

# Owned by root and not writable by the runtime user: with readOnlyRootFilesystem the only writable
# place is the /tmp volume the Deployment mounts.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# Numeric, so that Kubernetes' runAsNonRoot can verify it without an /etc/passwd lookup.
USER 10001:10001

# 8080: data port (gateway) · 8081: admin API (/healthz, /readyz, /metrics, /api/v1/*)
EXPOSE 8080 8081

# Node is PID 1: it gets SIGTERM directly, and the gateway and predictor handle it (drain, then exit).
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["gateway", "--config", "/etc/sluice/sluice.yaml"]
