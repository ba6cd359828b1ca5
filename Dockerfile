# syntax=docker/dockerfile:1
# One image for every process of the service: the API (default command), the worker
# (`node --import ./src/preload.ts src/worker.ts`) and the one-shot migration
# (`node --import ./src/preload.ts scripts/migrate.ts`; the preload keeps it near 100 MB,
# decision 005).
# Node 24 runs the TypeScript sources directly (type stripping), so there is no build step;
# the one built file the image needs, Scalar's browser bundle for /docs, comes from a stage of
# its own (decision 016).

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: what the API, the worker and the migration load, about 75
# packages (`node scripts/prod-deps.ts` prints them). Optional ones are skipped: they are the
# Node binaries that provision Node 24 for development, which this image already has, and
# msgpackr's native string decoder, which BullMQ does without. No install script runs: none of
# these needs one (see `allowScripts` in package.json).
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

FROM node:24-slim AS docs-bundle
WORKDIR /app
COPY package.json package-lock.json ./
# Development dependencies too, for one file: the prebuilt standalone bundle of
# @scalar/api-reference (a devDependency), which /docs serves as /docs/scalar.js. The image
# takes that file, not the package's tree of some 270 packages and 280 MiB. The app reads it
# from assets/scalar/standalone.js (src/core/docs-assets.ts).
RUN npm ci --omit=optional --ignore-scripts --no-audit --no-fund \
  && mkdir -p assets/scalar \
  && cp node_modules/@scalar/api-reference/dist/browser/standalone.js assets/scalar/standalone.js

FROM node:24-slim AS runtime
# --max-semi-space-size=8: V8 lets the young generation grow to 32 MiB a half and keeps it; at
# 8 a process holds less under load, with no loss of throughput measurable here (decisions 041,
# 043 and 053). --expose-gc: the API and the worker collect once before taking traffic, which
# gives back what loading the modules left (src/core/start-up-memory.ts): about 25 MB less
# held at idle (decision 053). In NODE_OPTIONS, so the API, the worker and the migration all
# get them, and the compile cache below is filled with them.
# NODE_COMPILE_CACHE: every module, its types stripped and compiled, is read from there; filled
# below as the user and with the flags the processes run as (both are part of its key), so no
# process loads Node's TypeScript stripper: about 29 MB less for its whole life, and a quicker
# start (decision 042). Read-only at run time is fine.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=8 --expose-gc" \
    NODE_COMPILE_CACHE=/app/.cache/node-compile-cache \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=docs-bundle /app/assets ./assets
COPY package.json ./
COPY migrations ./migrations
COPY scripts/migrate.ts scripts/warm-compile-cache.ts ./scripts/
COPY src ./src
RUN mkdir -p "$NODE_COMPILE_CACHE" && chown node:node "$NODE_COMPILE_CACHE"
USER node
RUN node --import ./src/preload.ts scripts/warm-compile-cache.ts
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/livez`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1's child of nothing, so SIGTERM reaches it and drains requests.
CMD ["node", "--import", "./src/preload.ts", "src/server.ts"]
