#!/usr/bin/env bash
# Installs what `make test` needs on a fresh Debian machine. Idempotent: a
# dependency already present is left alone.
set -euo pipefail

need_apt=()
command -v kcat >/dev/null 2>&1 || need_apt+=(kcat)

if ((${#need_apt[@]})); then
	echo "testdeps: installing ${need_apt[*]} (Debian packages)"
	sudo=""
	if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq || true
	$sudo apt-get install -y -qq "${need_apt[@]}"
fi
echo "testdeps: ok"
