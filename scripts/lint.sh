#!/usr/bin/env bash
# clang-format (.clang-format), clang-tidy (checks and the reasons for disabled ones in .clang-tidy)
# and cppcheck (false positives listed with reasons in .cppcheck-suppressions) on the C++ of src/,
# tools/ and python/src. Needs build/compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
dirs=(src tools python/src)
echo "lint: clang-format --dry-run on the tree" >&2
git ls-files '*.cpp' '*.h' '*.c' | xargs clang-format --dry-run --Werror
echo "lint: clang-tidy on ${dirs[*]} ($jobs jobs)" >&2
find "${dirs[@]}" -name '*.cpp' | sort | xargs -P "$jobs" -n 4 clang-tidy -p build -quiet
echo "lint: cppcheck on ${dirs[*]}" >&2
cppcheck -q --std=c++20 --language=c++ --enable=warning,performance,portability --inline-suppr \
  --suppressions-list=.cppcheck-suppressions --error-exitcode=1 -j "$jobs" -I include -I src "${dirs[@]}"
echo "lint: clean" >&2
