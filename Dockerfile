# chainboot container image.
#
#   docker build -t chainboot .
#   docker run -d --name chainboot --network host \
#     --cap-drop ALL --cap-add NET_BIND_SERVICE \
#     -v chainboot-data:/app/data -v /srv/boot-assets:/app/boot-assets/os:ro \
#     -e CHAINBOOT_ADVERTISE_IP=10.0.0.5 chainboot
#
# Host networking is needed: PXE firmware broadcasts its DHCP DISCOVER, and a
# broadcast does not cross Docker's NAT. The process runs as the unprivileged
# user "chainboot"; the only capability it needs is NET_BIND_SERVICE (UDP 67,
# 69 and 4011), granted to the node binary as a file capability, which works
# only while the container keeps NET_BIND_SERVICE in its bounding set (Docker's
# default, or --cap-add as above).

# 1. Build: TypeScript and the better-sqlite3 addon, compiled on the Node that runs them.
FROM node:20-bookworm AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p . && npm prune --omit=dev

# 2. Loaders from Debian's packages, copied out as plain files (Debian's
#    ipxe.efi is a symlink into /boot): the runtime image needs no apt at all.
FROM debian:bookworm-slim AS loaders
RUN apt-get update \
 && apt-get install -y --no-install-recommends ipxe pxelinux syslinux-common \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/copy-debian-loaders.sh /tmp/
RUN bash /tmp/copy-debian-loaders.sh /loaders \
 && dpkg-query -W ipxe pxelinux syslinux-common > /loaders/VERSIONS

# 3. Runtime.
FROM node:20-bookworm-slim
# setcap from libcap2-bin, removed again in the same layer.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 999 --home-dir /app/data --no-create-home chainboot
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY migrations ./migrations
COPY templates ./templates
COPY --from=loaders /loaders ./boot-assets/loaders
RUN mkdir -p /app/data && chown chainboot /app/data
ENV NODE_ENV=production \
    CHAINBOOT_DATA_DIR=/app/data \
    CHAINBOOT_ASSET_ROOT=/app/boot-assets \
    CHAINBOOT_LOADER_ROOT=/app/boot-assets/loaders
VOLUME ["/app/data"]
EXPOSE 8080/tcp 67/udp 69/udp 4011/udp
USER chainboot
# Liveness with Node itself (the slim image has no curl).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.CHAINBOOT_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["serve"]
