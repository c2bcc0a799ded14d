# Sourced by the install-*-deps scripts: apt-get install the packages named in the
# array `need` (nothing when it is empty); root is required for that.
# Usage: install_missing LABEL   (after filling `need`)
install_missing() {
  local label=$1
  if [ ${#need[@]} -eq 0 ]; then
    return 0
  fi
  if [ "$(id -u)" != 0 ]; then
    echo "$label: need root to apt-get install ${need[*]}" >&2
    return 1
  fi
  echo "$label: apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
