#!/usr/bin/env bash
# Rebuilds the patched crates in patches/ from their diffs (see README.md).
#
#   patches/apply.sh [--check]  apply each patches/<crate>.diff to the pristine crates.io release
#                               named in patches/UPSTREAM and compare the result with the
#                               committed copy patches/<crate>/; exit 1 naming the files that
#                               differ (the default; scripts/test.sh runs it)
#   patches/apply.sh --write    replace patches/<crate>/ with the result (after editing a .diff)
#   patches/apply.sh --diff     regenerate patches/<crate>.diff from the copies (after editing a
#                               copy)
#
# Any of them may be followed by crate names to handle only those. The pristine .crate comes
# from cargo's download cache ($CARGO_HOME/registry/cache) when it is there, so the script runs
# offline; otherwise `cargo fetch` downloads it there (a build of chatdesk never does: cargo
# does not download a crate that [patch] replaces). Either way its sha256 must be the one in
# patches/UPSTREAM.
set -euo pipefail
export LC_ALL=C

PATCHES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$PATCHES")
CARGO_HOME=${CARGO_HOME:-$HOME/.cargo}
# Files that `cargo package` adds to a .crate, not part of the copies.
PACKAGING=(.cargo_vcs_info.json Cargo.toml.orig Cargo.lock)
# What building or testing a copy on its own leaves in it; never compared, never removed.
LOCAL=(Cargo.lock target)

die() { echo "patches/apply.sh: $*" >&2; exit 2; }

mode=check
crates=()
for arg in "$@"; do
  case $arg in
    --check) mode=check ;;
    --write) mode=write ;;
    --diff) mode=diff ;;
    -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $arg (--check, --write or --diff)" ;;
    *) crates+=("$arg") ;;
  esac
done

declare -A VERSION SHA256
order=()
while read -r name version sha rest; do
  case $name in '' | '#'*) continue ;; esac
  [[ -n $sha && -z $rest ]] || die "patches/UPSTREAM: bad line for $name"
  VERSION[$name]=$version SHA256[$name]=$sha
  order+=("$name")
done <"$PATCHES/UPSTREAM"
if [ ${#crates[@]} = 0 ]; then crates=("${order[@]}"); fi
for c in "${crates[@]}"; do [ -n "${VERSION[$c]:-}" ] || die "$c is not in patches/UPSTREAM"; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The cached .crate of $1 whose sha256 is the recorded one, if any.
cached_crate() {
  local f
  for f in "$CARGO_HOME"/registry/cache/*/"$1-${VERSION[$1]}.crate"; do
    [ -f "$f" ] || continue
    if [ "$(sha256sum <"$f" | cut -d' ' -f1)" = "${SHA256[$1]}" ]; then echo "$f"; return 0; fi
    echo "patches/apply.sh: ignoring $f: its sha256 is not the one in patches/UPSTREAM" >&2
  done
  return 1
}

# Has cargo download the missing releases into its cache: a throwaway package that depends on
# exactly them, with chatdesk's Cargo.lock so that their dependencies resolve to the versions
# already cached. cargo checks each download against the registry index's checksum.
cargo_fetch() {
  local proj=$tmp/fetch c host
  mkdir -p "$proj/src"
  : >"$proj/src/lib.rs"
  {
    printf '[package]\nname = "chatdesk-patches-upstream"\nversion = "0.0.0"\nedition = "2021"\n'
    printf 'publish = false\n\n[workspace]\n\n[dependencies]\n'
    for c in "$@"; do printf '%s = "=%s"\n' "$c" "${VERSION[$c]}"; done
  } >"$proj/Cargo.toml"
  if [ -f "$ROOT/Cargo.lock" ]; then cp "$ROOT/Cargo.lock" "$proj/"; fi
  host=$(rustc -vV | sed -n 's/^host: //p')
  echo "patches/apply.sh: downloading $* into cargo's cache" >&2
  (cd "$proj" && cargo fetch --quiet --target "$host") ||
    die "cargo could not download $* (the network is needed once, until they are in its cache)"
}

missing=()
for c in "${crates[@]}"; do cached_crate "$c" >/dev/null || missing+=("$c"); done
if [ ${#missing[@]} != 0 ]; then cargo_fetch "${missing[@]}"; fi

# $tmp/<crate>/a: the pristine release less the packaging files.
for c in "${crates[@]}"; do
  crate_file=$(cached_crate "$c") || die "no $c-${VERSION[$c]}.crate with the sha256 of patches/UPSTREAM in $CARGO_HOME/registry/cache"
  mkdir -p "$tmp/$c"
  tar -xzf "$crate_file" -C "$tmp/$c"
  mv "$tmp/$c/$c-${VERSION[$c]}" "$tmp/$c/a"
  for f in "${PACKAGING[@]}"; do rm -rf "${tmp:?}/$c/a/$f"; done
done

# $tmp/<crate>/b: the committed copy, less what a local build leaves in it.
copy_of() {
  [ -d "$PATCHES/$1" ] || die "no copy patches/$1/"
  cp -R "$PATCHES/$1" "$tmp/$1/b"
  for f in "${LOCAL[@]}"; do rm -rf "${tmp:?}/$1/b/$f"; done
}

if [ "$mode" = diff ]; then
  for c in "${crates[@]}"; do
    copy_of "$c"
    rc=0
    (cd "$tmp/$c" && diff -ruN a b) >"$tmp/$c.diff" || rc=$?
    [ "$rc" -le 1 ] || die "diff failed for $c"
    if grep -q '^Binary files ' "$tmp/$c.diff"; then die "patches/$c/ has binary changes, which a .diff cannot carry"; fi
    # No file times in the headers, so that the same copies always give the same diff.
    awk '/^diff -ruN / { h = 2; print; next }
         h > 0 && /^(---|\+\+\+) / { h--; sub(/\t.*/, ""); print; next }
         { h = 0; print }' "$tmp/$c.diff" >"$PATCHES/$c.diff"
    echo "patches/$c.diff: $(grep -c '^diff -ruN ' "$PATCHES/$c.diff" || true) files against $c ${VERSION[$c]}"
  done
  exit 0
fi

# $tmp/<crate>/a becomes the pristine release with the diff applied.
for c in "${crates[@]}"; do
  [ -f "$PATCHES/$c.diff" ] || die "no patches/$c.diff"
  if ! out=$(patch -d "$tmp/$c/a" -p1 -f -s -E --fuzz=0 --no-backup-if-mismatch <"$PATCHES/$c.diff" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "patches/$c.diff does not apply to $c ${VERSION[$c]}" >&2
    exit 1
  fi
  find "$tmp/$c/a" -name '*.rej' -delete
done

if [ "$mode" = write ]; then
  for c in "${crates[@]}"; do
    dest=$PATCHES/$c
    mkdir -p "$dest"
    # Empty the copy, but for what a local build left in it.
    find "$dest" -mindepth 1 -maxdepth 1 \
      $(printf -- '-not -name %s ' "${LOCAL[@]}") -exec rm -rf {} +
    cp -R "$tmp/$c/a/." "$dest/"
    echo "patches/$c/: written from $c ${VERSION[$c]} + patches/$c.diff"
  done
  exit 0
fi

status=0
for c in "${crates[@]}"; do
  copy_of "$c"
  rc=0
  out=$(cd "$tmp/$c" && diff -rq a b) || rc=$?
  [ "$rc" -le 1 ] || die "diff failed for $c"
  if [ "$rc" = 0 ]; then
    echo "patches/$c/ is $c ${VERSION[$c]} + patches/$c.diff"
    continue
  fi
  status=1
  echo "patches/$c/ differs from $c ${VERSION[$c]} + patches/$c.diff:" >&2
  printf '%s\n' "$out" | sed -E \
    -e "s#^Files a/(.*) and b/.* differ\$#  changed: patches/$c/\\1#" \
    -e "s#^Only in a(/?)(.*): (.*)\$#  missing from the copy: patches/$c/\\2\\1\\3#" \
    -e "s#^Only in b(/?)(.*): (.*)\$#  not in the diff: patches/$c/\\2\\1\\3#" >&2
done
if [ "$status" != 0 ]; then
  cat >&2 <<'EOF'
The copies in patches/ must be the pinned upstream releases with patches/*.diff applied.
If the copy is right, regenerate the diff: patches/apply.sh --diff (then commit both).
If the diff is right, rebuild the copy:    patches/apply.sh --write
EOF
fi
exit "$status"
