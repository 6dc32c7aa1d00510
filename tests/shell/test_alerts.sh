#!/usr/bin/env bash
# test_alerts.sh - conf/alerts.yml: a valid Prometheus rules file
# (`promtool check rules`), and its unit test tests/prometheus/alerts_test.yml
# (`promtool test rules`: for every alert, series under which it fires with
# the expected labels and annotations, and series under which it does not).
# Then a broken copy (one threshold changed) must fail that unit test, so the
# test does look at what the rules say. Needs promtool (Debian: prometheus).
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"
PROMTOOL=${PROMTOOL:-/usr/bin/promtool}
RULES=$LIB_ROOT/conf/alerts.yml
UNIT=$LIB_ROOT/tests/prometheus/alerts_test.yml
tmp=$(mktemp -d /tmp/chat-alerts.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

[ -x "$PROMTOOL" ] || { echo "$PROMTOOL is missing: run make deps (package prometheus)"; exit 1; }
ok "promtool check rules conf/alerts.yml" "$PROMTOOL" check rules "$RULES"
ok "promtool test rules tests/prometheus/alerts_test.yml" "$PROMTOOL" test rules "$UNIT"

# Every alert of the rules file has a case in the unit test.
for a in $(sed -n 's/^ *- alert: *//p' "$RULES"); do
    ok "alert $a is tested" grep -qE "alertname: $a\$" "$UNIT"
done
# Every alert names a severity and says what it is and what to check.
n_alerts=$(grep -c '^ *- alert:' "$RULES")
ok "every alert has a severity ($n_alerts alerts)" test "$(grep -c '^ *severity: \(critical\|warning\)$' "$RULES")" = "$n_alerts"
ok "every alert has a summary" test "$(grep -c '^ *summary:' "$RULES")" = "$n_alerts"
ok "every alert has a description" test "$(grep -c '^ *description:' "$RULES")" = "$n_alerts"

# A mutant: the 5xx threshold at 10 % instead of 5 % must fail the unit test.
mkdir -p "$tmp/conf" "$tmp/tests/prometheus"
sed 's|/ sum(rate(chat_api_requests_total\[5m\])) > 0.05|/ sum(rate(chat_api_requests_total[5m])) > 0.10|' \
    "$RULES" >"$tmp/conf/alerts.yml"
cp "$UNIT" "$tmp/tests/prometheus/"
no "the mutant is the same as conf/alerts.yml" cmp -s "$RULES" "$tmp/conf/alerts.yml"
mutant_passes() { "$PROMTOOL" test rules "$tmp/tests/prometheus/alerts_test.yml" >"$tmp/mutant.log" 2>&1; }
no "promtool test rules passes with a 10 % threshold" mutant_passes
finish
