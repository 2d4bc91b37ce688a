#!/usr/bin/env bash
# A program that includes only <rankpool/future.hpp>, <rankpool/wait.hpp> or
# <rankpool/continuations.hpp>
# must not pull in Boost.Serialization (its archives are ~60k preprocessed
# lines): the executor hands each future's state its result decoder instead.
#   check_light_headers.sh CXX INCLUDE_DIR [extra compiler flags...]
set -euo pipefail
cxx="$1"
include_dir="$2"
shift 2

status=0
for header in rankpool/future.hpp rankpool/wait.hpp rankpool/continuations.hpp; do
  # -H lists every header opened, one per line, on stderr.
  opened="$(echo "#include <$header>" |
    "$cxx" -std=c++17 -H -fsyntax-only -x c++ -I"$include_dir" "$@" - 2>&1 >/dev/null)"
  heavy="$(grep -E 'boost/(serialization|archive)/' <<<"$opened" || true)"
  if [[ -n "$heavy" ]]; then
    echo "FAIL: <$header> includes Boost.Serialization:" >&2
    head -5 <<<"$heavy" >&2
    status=1
  else
    echo "ok: <$header> opens $(grep -c '^\.' <<<"$opened") headers, none of Boost.Serialization"
  fi
done
exit "$status"
