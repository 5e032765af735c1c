#!/usr/bin/env bash
# clang-tidy (checks and the reasons for disabled ones in .clang-tidy) and cppcheck (false
# positives listed with reasons in .cppcheck-suppressions) on src/. Needs build/compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
echo "lint: clang-tidy on src/ ($jobs jobs)" >&2
find src -name '*.cpp' | sort | xargs -P "$jobs" -n 4 clang-tidy -p build -quiet
echo "lint: cppcheck on src/" >&2
cppcheck -q --std=c++20 --language=c++ --enable=warning,performance,portability --inline-suppr \
  --suppressions-list=.cppcheck-suppressions --error-exitcode=1 -j "$jobs" -I include -I src src/
echo "lint: clean" >&2
