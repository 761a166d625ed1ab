#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds synpref, and runs `synpref demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target synpref
./build/tools/synpref/synpref demo "$@"
