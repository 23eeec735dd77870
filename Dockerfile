# chainboot: build on the same Node as it runs (better-sqlite3 is a native addon
# compiled from source here), then copy only what runs into a slim image.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY migrations ./migrations
COPY templates ./templates
RUN npx tsc -p . && npm prune --omit=dev

FROM node:20-bookworm-slim
# Loaders from Debian: iPXE (undionly.kpxe, ipxe.efi, snponly.efi), pxelinux
# (lpxelinux.0) and syslinux modules + memdisk.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ipxe pxelinux syslinux-common curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /var/lib/chainboot --create-home chainboot
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY templates ./templates
RUN mkdir -p /app/boot-assets/loaders /app/data && chown -R chainboot /app/data /app/boot-assets
ENV CHAINBOOT_DATA_DIR=/app/data \
    CHAINBOOT_ASSET_ROOT=/app/boot-assets \
    CHAINBOOT_LOADER_ROOT=/app/boot-assets/loaders
VOLUME ["/app/data"]
EXPOSE 8080/tcp
USER chainboot
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:${CHAINBOOT_HTTP_PORT:-8080}/healthz || exit 1
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve"]
