# syntax=docker/dockerfile:1
# One image for every process of the service: the API (default command), the worker
# (`node dist/worker.js`) and the one-shot migration (`node dist/migrate.js`).
# They run the production bundle (`npm run build`: one file each instead of some 770 modules
# to find and link, about a third off the time to ready, decision 056), built in a stage of
# its own with the other built file the image needs, Scalar's browser bundle for /docs
# (decision 016).

FROM node:24-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: what the API, the worker and the migration load, about 75
# packages (`node scripts/prod-deps.ts` prints them). Optional ones are skipped: they are the
# Node binaries that provision Node 24 for development, which this image already has, and
# msgpackr's native string decoder, which BullMQ does without. No install script runs: none of
# these needs one (see `allowScripts` in package.json).
RUN npm ci --omit=dev --omit=optional --ignore-scripts && npm cache clean --force

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Development dependencies too, and optional ones: esbuild's binary is one (Node's binaries
# for development come along; only this stage holds them). No install script runs.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/build.ts scripts/migrate.ts ./scripts/
COPY src ./src
# The bundle, and one file of @scalar/api-reference (a devDependency): its prebuilt standalone
# bundle, which /docs serves as /docs/scalar.js. The image takes that file, not the package's
# tree of some 270 packages and 280 MiB; the app reads it from assets/scalar/standalone.js
# (src/core/docs-assets.ts).
RUN node scripts/build.ts \
  && mkdir -p assets/scalar \
  && cp node_modules/@scalar/api-reference/dist/browser/standalone.js assets/scalar/standalone.js

FROM node:24-slim AS runtime
# --max-semi-space-size=32: a young generation of 32 MiB a half, so what an AI gateway call
# allocates while it waits on the upstream dies young instead of filling the old generation:
# its CPU per call 5-9% less than at 8; the item read's is unchanged, and after a mix of loads
# the process is as large as at 8 (decision 065). --expose-gc: processes give back what they
# hold and no longer need with one collection: what loading the modules left (the worker
# before its first job, decision 053; the API at its first quiet moment, decision 070), and,
# in the API, what a burst of load left once it has been quiet for QUIET_MEMORY_RELEASE_MS
# (decision 069). In NODE_OPTIONS, so the API, the worker and the migration all get them,
# and the compile cache below is filled with them.
# NODE_COMPILE_CACHE: the bundle, compiled, is read from there, about 80 ms of the API's start;
# filled below as the user and with the flags the processes run as, both part of its key
# (decisions 042 and 056). Read-only at run time is fine.
# LD_PRELOAD: jemalloc allocates for every process of the image (the API, the worker, the
# migration). After a burst of load it hands freed memory back within seconds, where glibc
# keeps what sits below live memory in its heap: 96-98 MB held after load against 101-121
# (decision 113). MALLOC_CONF: one arena, as for glibc below, and a thread of its own that
# hands memory back while the process is idle. `npm start` finds jemalloc the same way where
# the system has it (scripts/with-jemalloc.sh).
# MALLOC_ARENA_MAX=1: should jemalloc be taken out, glibc's allocator keeps one arena for
# every thread, instead of one for each of V8's and libuv's threads, each holding what a
# burst of load left in it (decisions 097 and 099).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(ls /usr/lib/*-linux-gnu/libjemalloc.so.2)" /usr/local/lib/libjemalloc.so.2
ENV NODE_ENV=production \
    LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,narenas:1 \
    MALLOC_ARENA_MAX=1 \
    NODE_OPTIONS="--max-semi-space-size=32 --expose-gc" \
    NODE_COMPILE_CACHE=/app/.cache/node-compile-cache \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# node_modules: the packages the bundle leaves out (scripts/build.ts, EXTERNAL: those that
# read their own files) and the ones it resolves at run time (Scalar's and the tokenizer's
# data). src: the files the code reads beside its sources (the chat page), and the sources
# themselves for one-off commands (`node --import ./src/preload.ts …`).
COPY --from=dependencies /app/node_modules ./node_modules
COPY --from=build /app/assets ./assets
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY scripts/warm-compile-cache.ts ./scripts/
COPY src ./src
RUN mkdir -p "$NODE_COMPILE_CACHE" && chown node:node "$NODE_COMPILE_CACHE"
USER node
RUN node scripts/warm-compile-cache.ts
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/livez`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form: node is PID 1's child of nothing, so SIGTERM reaches it and drains requests.
CMD ["node", "dist/server.js"]
