#!/bin/sh
# Snapshot control, run inside a sandbox (by root in Docker). The snapshot is a git repository
# kept outside the work tree (PL_SNAP), so nothing a candidate does in the repo can damage it, and
# the repo's own .git (if any) is never touched.
#   PL_REPO   the work tree            PL_SNAP  the snapshot's git dir
#   PL_OWNER  uid:gid owning the tree (empty: leave ownership alone)
#   PL_CLEAN  extra `git clean` flags ("-x" when the snapshot holds no ignored files)
set -eu
export GIT_DIR="$PL_SNAP" GIT_WORK_TREE="$PL_REPO" GIT_CONFIG_NOSYSTEM=1 HOME="$PL_SNAP"
cd "$PL_REPO"

own() { if [ -n "${PL_OWNER:-}" ]; then chown -R "$PL_OWNER" "$PL_REPO"; fi; }
clean() { git reset -q --hard "$1"; git clean -q -ffd ${PL_CLEAN:-}; }

case "$1" in
  init)
    git init -q
    git config user.name patchlore && git config user.email patchlore@localhost
    git config core.hooksPath /dev/null && git config gc.auto 0 && git config core.autocrlf false
    git config commit.gpgsign false && git config core.quotepath false
    git add -A
    git commit -q --allow-empty --no-verify -m snapshot
    own ;;
  reset) clean HEAD; own ;;
  diff) git add -A; git diff --cached --no-color --no-ext-diff --no-renames HEAD ;;
  save) git add -A; git write-tree ;;  # prints a tree id for `restore`
  restore) git read-tree -u --reset "$2"; git clean -q -ffd ${PL_CLEAN:-}; own ;;
  apply)  # apply METHOD FILE; METHOD is one of the SWE-bench harness fallbacks
    case "$2" in
      git-apply) git apply --verbose "$3" ;;
      git-apply-3way) git add -A && git apply --verbose --3way "$3" ;;
      git-apply-reject) git apply --verbose --reject "$3" ;;
      patch-fuzz) patch --batch --forward --no-backup-if-mismatch --fuzz=5 -p1 -i "$3" ;;
      *) echo "unknown apply method $2" >&2; exit 2 ;;
    esac
    own ;;
  *) echo "usage: ctl.sh init|reset|diff|save|restore TREE|apply METHOD FILE" >&2; exit 2 ;;
esac
