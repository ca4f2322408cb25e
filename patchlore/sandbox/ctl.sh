#!/bin/sh
# Snapshot control, run inside a sandbox (by root in Docker). The snapshot is a git repository
# kept outside the work tree (PL_SNAP), so nothing a candidate does in the repo can damage it, and
# the repo's own .git (if any) is never touched. Each verb is one call: round trips cost more
# than the work.
#   PL_REPO   the work tree            PL_SNAP  the snapshot's git dir
#   PL_OWNER  uid:gid owning the tree (empty: leave ownership alone)
#   PL_CLEAN  extra `git clean` flags ("-x" when the snapshot holds no ignored files)
#   PL_DIRS   directories the sandbox needs (recreated by reset, owned by PL_OWNER)
#   PL_KILL   "1": reset first kills every process but PID 1 (Docker, where we own the box)
#             and checks that none of PL_OWNER's survived
#   PATCHLORE_BUILT  (an environment image's) a tar of the files its build wrote into the repo
#             (setuptools-scm's _version.py, extensions compiled in place): init lays those
#             the repo has no file for into the copy, ignored by the snapshot (no diff shows
#             them), and every reset lays them again
#   PATCHLORE_REBUILD  (an environment image's) the command that compiles the repo's
#             extensions in place again: run after a patch that changes C, C++ or Cython code
set -eu
# a git hook's environment (GIT_INDEX_FILE, ...) points at the user's repo, never at ours
unset GIT_INDEX_FILE GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES GIT_COMMON_DIR \
  GIT_NAMESPACE GIT_PREFIX GIT_QUARANTINE_PATH 2>/dev/null || true
export GIT_DIR="$PL_SNAP" GIT_WORK_TREE="$PL_REPO" GIT_CONFIG_NOSYSTEM=1 HOME="$PL_SNAP"
cd "$PL_REPO" 2>/dev/null || { mkdir -p "$PL_REPO" && cd "$PL_REPO"; }

own() { if [ -n "${PL_OWNER:-}" ]; then chown -R "$PL_OWNER" "$PL_REPO"; fi; }
clean() { git reset -q --hard "$1"; git clean -q -ffd ${PL_CLEAN:-}; lay; }
lay() { if [ -s "$PL_SNAP/built" ]; then tar -xf "$PATCHLORE_BUILT" -T "$PL_SNAP/built"; fi; }
rebuild() {
  [ -n "${PATCHLORE_REBUILD:-}" ] && [ -s "$PL_SNAP/built" ] || return 0
  git add -A
  if ! git diff --cached --quiet HEAD -- '*.c' '*.h' '*.cc' '*.cpp' '*.cxx' '*.hpp' '*.pyx' \
      '*.pxd' '*.pxi'; then
    sh -c "$PATCHLORE_REBUILD" > "$PL_SNAP.rebuild.log" 2>&1 \
      || echo "the rebuild of the changed C code failed: $PL_SNAP.rebuild.log" >&2
  fi
}
show_diff() { git add -A; git diff --cached --binary --no-color --no-ext-diff --no-renames HEAD; }
dirs() {
  [ -n "${PL_DIRS:-}" ] || return 0
  mkdir -p $PL_DIRS
  if [ -n "${PL_OWNER:-}" ]; then chown "$PL_OWNER" $PL_DIRS; fi
}
others() {  # is any process of the sandbox user left?
  uid=${PL_OWNER%%:*}
  for p in /proc/[0-9]*; do
    while read -r key real _; do
      if [ "$key" = "Uid:" ]; then [ "$real" = "$uid" ] && return 0; break; fi
    done < "$p/status" 2>/dev/null || true
  done
  return 1
}
kill_all() {
  i=0
  while [ $i -lt 50 ]; do
    kill -9 -1 2>/dev/null || true
    others || return 0
    sleep 0.02; i=$((i + 1))
  done
  echo "processes survive kill -9" >&2; exit 3
}

reset() {
  if [ "${PL_KILL:-}" = 1 ]; then kill_all; fi
  dirs; clean HEAD; own
}

case "$1" in
  init)
    dirs
    git init -q
    git config user.name patchlore && git config user.email patchlore@localhost
    git config core.hooksPath /dev/null && git config gc.auto 0 && git config core.autocrlf false
    git config commit.gpgsign false && git config core.quotepath false
    if [ -f "${PATCHLORE_BUILT:-}" ]; then
      tar -tf "$PATCHLORE_BUILT" | while IFS= read -r f; do
        [ -e "$f" ] || printf '%s\n' "$f"
      done > "$PL_SNAP/built"
      sed 's|^\./|/|' "$PL_SNAP/built" >> "$PL_SNAP/info/exclude"
      lay
    fi
    git add -A
    git commit -q --allow-empty --no-verify -m snapshot
    own ;;
  reset) reset ;;
  kill) kill_all ;;  # every process of PL_OWNER (with PL_KILL=1: all but PID 1), checked
  diff)  # diff [FILE]: to stdout, or into FILE (a diff larger than the output limit)
    if [ -n "${2:-}" ]; then exec > "$2"; fi
    show_diff ;;
  apply)  # apply FILE [reset]: the SWE-bench harness fallbacks in order, the tree restored after
          # each miss; with "reset", from the snapshot. FILE "-" takes the patch from $PL_PATCH.
          # After a success, `@@ diff` and the tree's diff: no second call to read it.
    if [ "${3:-}" = reset ]; then reset; fi
    file=$2
    if [ "$file" = - ]; then file="$PL_SNAP.patch"; printf '%s' "$PL_PATCH" > "$file"; fi
    tree=$(git add -A && git write-tree)
    for m in git-apply git-apply-3way git-apply-reject patch-fuzz; do
      set +e
      case $m in
        git-apply) out=$(git apply --verbose "$file" 2>&1) ;;
        git-apply-3way) out=$(git apply --verbose --3way "$file" 2>&1) ;;
        git-apply-reject) out=$(git apply --verbose --reject "$file" 2>&1) ;;
        patch-fuzz) out=$(patch --batch --forward --no-backup-if-mismatch --fuzz=5 -p1 -i "$file" 2>&1) ;;
      esac
      rc=$?
      set -e
      printf '@@ %s %s\n%s\n' "$m" "$rc" "$out"
      if [ "$rc" = 0 ]; then rebuild; own; echo "@@ diff"; show_diff; exit 0; fi
      git read-tree -u --reset "$tree"; git clean -q -ffd ${PL_CLEAN:-}; lay
    done
    own; exit 1 ;;
  *) echo "usage: ctl.sh init|reset|kill|diff [FILE]|apply FILE [reset]" >&2; exit 2 ;;
esac
