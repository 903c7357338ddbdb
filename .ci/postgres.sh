# Sourced by .ci/run: PostgreSQL for the store's tests.
#
# Installs Debian's `postgresql` when missing (root and apt-get needed), starts its cluster,
# creates the role and database the tests use, and exports TUBULAR_TEST_PG. Under CI
# (CI=true) the registry tests fail when PostgreSQL is missing, so a failure here is loud.
# Run after npm ci/npm install.

pg_url="postgres://tubular:tubular@127.0.0.1:5432/tubular_test"

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing postgresql"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends postgresql
  else
    echo "note: postgresql is not installed (needs root and apt-get); the registry's PostgreSQL tests will fail under CI=true" >&2
  fi
fi

if command -v pg_lsclusters >/dev/null 2>&1; then
  cluster="$(pg_lsclusters --no-header | awk 'NR==1 { print $1 " " $2 }')"
  if [ -n "$cluster" ]; then
    # shellcheck disable=SC2086
    pg_ctlcluster $cluster start 2>/dev/null || true
    for _ in $(seq 1 30); do
      su postgres -c "psql -qtAc 'SELECT 1'" >/dev/null 2>&1 && break
      sleep 1
    done
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname = 'tubular'\"" | grep -q 1 ||
      su postgres -c "psql -qc \"CREATE ROLE tubular LOGIN PASSWORD 'tubular'\""
    su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'tubular_test'\"" | grep -q 1 ||
      su postgres -c "psql -qc 'CREATE DATABASE tubular_test OWNER tubular'"
    export TUBULAR_TEST_PG="${TUBULAR_TEST_PG:-$pg_url}"
    echo "PostgreSQL ready for the tests: TUBULAR_TEST_PG=${TUBULAR_TEST_PG}"
  fi
fi
