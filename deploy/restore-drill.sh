#!/usr/bin/env bash
# Restore drill (docs/operations.md): restore a pg_dump into a scratch database, check the
# ledger there (`solde ledger verify`) and, when the source has not changed since the dump,
# compare every account's balance and entry sum with the source's.
#
#   deploy/restore-drill.sh DUMP SCRATCH_URL [SOURCE_URL]   restore a backup (pg_dump -Fc)
#   deploy/restore-drill.sh --seed BASE_URL                 the whole drill on a made-up
#        database: BASE_URL's server gets <name>_drill_src (seeded with demo data) and
#        <name>_drill_restore; both are dropped at the end. `make restore-drill` runs this.
#
# The scratch database is DROPPED and recreated: never give the live database's URL.
set -euo pipefail
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"

SOLDE=${SOLDE:-solde}
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$here/../.venv/bin/solde" ] && [ "$SOLDE" = solde ] && SOLDE="$here/../.venv/bin/solde"

die() { echo "restore drill: $*" >&2; exit 1; }
dbname() { local u=${1%%\?*}; echo "${u##*/}"; }
server() { local u=${1%%\?*}; echo "${u%/*}"; }

# Per account: code, stored balance, sum of entries — and the count of transactions.
fingerprint() {
  psql -X -q -At -d "$1" -v ON_ERROR_STOP=1 -c "
    SELECT (SELECT count(*) FROM ledger_transaction) || ' transactions, '
        || count(*) || ' accounts, '
        || coalesce(sum(a.balance_cents), 0) || ' stored cents, '
        || coalesce(sum(e.total), 0) || ' entry cents, digest '
        || md5(coalesce(string_agg(a.code || '=' || a.balance_cents || '/' || coalesce(e.total, 0),
                                   ',' ORDER BY a.code), ''))
    FROM ledger_ledgeraccount a
    LEFT JOIN (SELECT account_id, sum(amount_cents) AS total FROM ledger_entry
               GROUP BY account_id) e ON e.account_id = a.id"
}

restore() {  # DUMP SCRATCH_URL [SOURCE_URL]
  local dump=$1 scratch=$2 source=${3:-}
  [ -f "$dump" ] || die "no dump file $dump"
  local name; name=$(dbname "$scratch")
  if [ -n "$source" ] && [ "$(dbname "$source")" = "$name" ] && [ "$(server "$source")" = "$(server "$scratch")" ]; then
    die "the scratch database is the source database ($name): refusing to drop it"
  fi
  echo "Restoring $dump into the scratch database $name…"
  psql -X -q -d "$(server "$scratch")/postgres" -v ON_ERROR_STOP=1 -c "DROP DATABASE IF EXISTS \"$name\""
  psql -X -q -d "$(server "$scratch")/postgres" -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$name\""
  local started=$SECONDS
  pg_restore --no-owner --exit-on-error -d "$scratch" "$dump"
  echo "Restored in $((SECONDS - started)) s."
  SOLDE_DATABASE_URL="$scratch" "$SOLDE" ledger verify
  local restored; restored=$(fingerprint "$scratch")
  echo "Restored: $restored"
  if [ -n "$source" ]; then
    local original; original=$(fingerprint "$source")
    echo "Source:   $original"
    [ "$original" = "$restored" ] || die "balances differ between the source and the restore"
    echo "Balances identical: restore drill passed."
  else
    echo "Ledger consistent: restore drill passed (no source given to compare balances)."
  fi
}

if [ "${1:-}" = "--seed" ]; then
  export SOLDE_DEMO=1  # made-up data on a scratch server: the demo's settings, not production's
  base=${2:?"usage: $0 --seed postgres://user@host:5432/name"}
  src="$(server "$base")/$(dbname "$base")_drill_src"
  scratch="$(server "$base")/$(dbname "$base")_drill_restore"
  dump=$(mktemp --suffix=.dump)
  cleanup() {
    rm -f "$dump"
    for u in "$src" "$scratch"; do
      psql -X -q -d "$(server "$u")/postgres" -c "DROP DATABASE IF EXISTS \"$(dbname "$u")\"" >/dev/null 2>&1 || true
    done
  }
  trap cleanup EXIT
  psql -X -q -d "$(server "$src")/postgres" -c "DROP DATABASE IF EXISTS \"$(dbname "$src")\""
  psql -X -q -d "$(server "$src")/postgres" -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$(dbname "$src")\""
  echo "Seeding $(dbname "$src") with made-up demo data…"
  SOLDE_DATABASE_URL="$src" "$SOLDE" migrate --verbosity 0
  SOLDE_DATABASE_URL="$src" "$SOLDE" seed-demo --supply-points "${DRILL_SUPPLY_POINTS:-20}" --days "${DRILL_DAYS:-3}" >/dev/null
  echo "Backing up with pg_dump -Fc…"
  pg_dump -Fc -f "$dump" "$src"
  restore "$dump" "$scratch" "$src"
else
  [ $# -ge 2 ] || die "usage: $0 DUMP SCRATCH_URL [SOURCE_URL] | $0 --seed BASE_URL"
  restore "$@"
fi
