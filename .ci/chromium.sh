# Sourced by .ci/run: the dashboard's browser tests drive Debian's Chromium
# (playwright-core never downloads a browser). Installs the `chromium` package
# when it is missing; in CI a Chromium that cannot be had fails the run here
# (the tests would fail too: they never skip).
if [ -z "${TUBULAR_CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing chromium (the dashboard's browser tests)"
    DEBIAN_FRONTEND=noninteractive apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium
  fi
  if ! command -v chromium >/dev/null 2>&1; then
    echo "error: chromium is not installed (apt-get install chromium); the dashboard's browser tests need it" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
  fi
fi
