#!/usr/bin/env bash
# Fails when a C++ file differs from clang-format's output (the repo's .clang-format).
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r file; do
  if ! clang-format --dry-run --Werror "$file" >/dev/null 2>&1; then
    echo "needs clang-format: $file"
    bad=1
  fi
done < <(git ls-files '*.cpp' '*.h' '*.hpp' '*.cc')
if [[ $bad != 0 ]]; then
  echo "run: clang-format -i <files above>"
  exit 1
fi
echo "clang-format: all files formatted"
