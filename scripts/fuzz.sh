#!/usr/bin/env bash
# Runs every fuzz target of the module, one after another, each for the same
# -fuzztime (default 100000x: a hundred thousand executions), and fails if
# any target fails. A failing input is kept by go test under the package's
# testdata/fuzz/FuzzName/: fix the bug and commit the file as a regression
# seed. The seed corpora already run as ordinary tests in scripts/test.sh;
# this script is the long run, not part of it.
#
# Usage: scripts/fuzz.sh [FUZZTIME] [go test flags]
#   scripts/fuzz.sh                      every target, 100000 executions each, -parallel 1
#   scripts/fuzz.sh 30s -parallel 2      every target for 30 seconds, two workers
#   FUZZ_MATCH=Jobs scripts/fuzz.sh      only targets whose name contains "Jobs"
set -euo pipefail
cd "$(dirname "$0")/.."

fuzztime=${1:-100000x}
shift $(($# > 0 ? 1 : 0))
flags=("$@")
((${#flags[@]})) || flags=(-parallel 1) # gentle on a shared machine

# Nested modules (bench/) are not part of this module's packages.
mapfile -t nested < <(find . -mindepth 2 -name go.mod -printf '%h\n')
in_nested() {
	local d
	for d in "${nested[@]}"; do [[ $1 == "$d" || $1 == "$d"/* ]] && return 0; done
	return 1
}

targets=()
while IFS=: read -r file name; do
	dir=$(dirname "$file")
	in_nested "$dir" && continue
	[[ -z ${FUZZ_MATCH:-} || $name == *"$FUZZ_MATCH"* ]] || continue
	targets+=("$dir $name")
done < <(grep -rHoE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/' | sort -u)
((${#targets[@]})) || { echo "fuzz.sh: no fuzz target found" >&2; exit 1; }

summary=()
failed=0
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "=== $dir $name (-fuzztime $fuzztime ${flags[*]})"
	start=$(date +%s)
	out=$(mktemp)
	if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "${flags[@]}" "$dir" 2>&1 | tee "$out"; then
		result=ok
	else
		result=FAIL
		failed=1
	fi
	secs=$(($(date +%s) - start))
	execs=$(grep -oE 'execs: [0-9]+' "$out" | tail -1 | cut -d' ' -f2)
	rm -f "$out"
	summary+=("$(printf '%-4s %-28s %-32s %10s execs %5ss' "$result" "$dir" "$name" "${execs:-?}" "$secs")")
done

echo
echo "=== summary (-fuzztime $fuzztime)"
printf '%s\n' "${summary[@]}"
if ((failed)); then
	echo "fuzz.sh: some targets failed; their inputs are under testdata/fuzz/ of the package" >&2
	exit 1
fi
