# syntax=docker/dockerfile:1
#
# deployment-tracker image: `node dist/main.js` on Node 24, production
# dependencies only, as a non-root user, fine with a read-only root
# filesystem (it writes nothing to disk).
#
#   docker build -t deployment-tracker:0.1.0 .
#
# No Docker engine runs on the development machine: the runtime stage is
# reproduced without one by scripts/package/imageContents.ts (copy the same
# files, the same `npm ci`, run the result read-only as a non-root user
# against the local control plane), which test/e2e/deploy.test.ts runs and
# test/deploy/dockerfile.test.ts keeps in step with this file.

# Build: the TypeScript compiler, esbuild and the rest of the dev dependencies.
# Debian 12 (glibc) like the runtime image, so any prebuilt optional
# dependency npm picks here also loads there.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: nothing the build or the runtime needs has one (the
# `node` dev dependency that installs Node 24 for development is not needed,
# the base image is Node 24).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.ts ./scripts/build.ts
COPY src ./src
# Type-check src/, then bundle it into dist/ (scripts/build.ts says why).
RUN npm run build

# Production dependencies only, installed from the lockfile.
FROM node:24-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Runtime: Node 24 and nothing else (no shell, no npm), user 65532 (nonroot).
FROM gcr.io/distroless/nodejs24-debian12:nonroot AS runtime
WORKDIR /app
ENV NODE_ENV=production
# glibc's allocator, held to what a small single-threaded server needs: two
# arenas instead of eight per core; blocks of 32 KiB and more (socket read
# buffers, list pages, response buffers) mapped and returned at once rather
# than left as free holes between long-lived blocks in the heap, which glibc
# trims only at its top (BENCHMARKS.md, "Idle memory"). scripts/package/imageContents.ts
# runs the staged image with the same (IMAGE_ENV; a test keeps them equal).
ENV MALLOC_ARENA_MAX=2 MALLOC_TRIM_THRESHOLD_=131072 MALLOC_MMAP_THRESHOLD_=32768
COPY --from=production-dependencies /app/package.json /app/package-lock.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER 65532:65532
EXPOSE 9090
ENTRYPOINT ["/nodejs/bin/node", "dist/main.js"]
