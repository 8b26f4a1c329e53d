#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine. Idempotent: a
# dependency already present is left alone.
#   kcat           Debian package (librdkafka's CLI; broker client tests)
#   PostgreSQL 15  Debian package, binaries under /usr/lib/postgresql/15/bin
#                  (the CDC connector's tests start their own server)
#   MinIO          built from its Go module at a pinned version into
#                  $SLUICE_TOOLS (default ~/.cache/sluice/bin); the S3 sink's
#                  tests start their own server. The build takes ~4 minutes
#                  once and is cached.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
TOOLS="${SLUICE_TOOLS:-$HOME/.cache/sluice/bin}"

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)

if ((${#need_apt[@]})); then
	echo "testdeps: installing ${need_apt[*]} (Debian packages)"
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || true
	$sudo apt-get install -y -qq "${need_apt[@]}"
fi

# The version the binary was built from is recorded next to it, so a pin
# change rebuilds.
if [ ! -x "$TOOLS/minio" ] || [ "$(cat "$TOOLS/minio.version" 2>/dev/null)" != "$MINIO_VERSION" ]; then
	echo "testdeps: building MinIO $MINIO_VERSION into $TOOLS (about 4 minutes, once)"
	mkdir -p "$TOOLS"
	GOBIN="$TOOLS" GOFLAGS=-mod=mod go install "github.com/minio/minio@$MINIO_VERSION"
	echo "$MINIO_VERSION" >"$TOOLS/minio.version"
fi
echo "testdeps: ok"
