# Shared by the project's scripts (source it): messages, and Debian packages
# installed only when missing.

say() { printf '[%s] %s\n' "${SCRIPT_TAG:-rooms}" "$*"; }
die() { printf '[%s] ERROR: %s\n' "${SCRIPT_TAG:-rooms}" "$*" >&2; exit 1; }

# ensure_debian_packages package=path ...
# Installs each package whose path (a file it ships) is missing, in one
# apt-get call, as root or through sudo; fails naming what could not be had.
ensure_debian_packages() {
  local spec pkg missing=() paths=()
  for spec in "$@"; do
    pkg=${spec%%=*}
    [ -e "${spec#*=}" ] || { missing+=("$pkg"); paths+=("$spec"); }
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || die "need root to install: ${missing[*]}"
    sudo=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || die "apt-get update failed (no access to Debian mirrors?)"
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
  for spec in "${paths[@]}"; do
    [ -e "${spec#*=}" ] || die "package ${spec%%=*} installed but ${spec#*=} is still missing"
  done
}
