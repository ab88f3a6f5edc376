#!/usr/bin/env bash
# schemathesis against the running app and its own OpenAPI document, for a bounded time: as an admin, a coach
# and a specialist of the demo organization, no generated request may get a 5xx, every error must be
# problem+json and every answer must match the document. Exits non-zero on any failure. Settings:
# .ci/schemathesis.toml.
#
#   .ci/schemathesis.sh                      # a temporary SQLite file
#   SCHEMATHESIS_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/telecon_schemathesis .ci/schemathesis.sh
#
# The PostgreSQL database must exist and be empty. SCHEMATHESIS_MAX_TIME bounds each of the three runs in
# seconds (default 25); BIN names the virtualenv's bin folder (default .venv/bin).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-25}

work=$(mktemp -d)
port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export TELECON_DATABASE_URL=${SCHEMATHESIS_DATABASE_URL:-sqlite+aiosqlite:///$work/telecon.db}
export TELECON_MAIL_DIR="$work/mail"
export TELECON_PUBLIC_URL="$base"
unset TELECON_REDIS_URL

"$BIN/python" -m telecon serve --demo --port "$port" >"$work/server.log" 2>&1 &
server=$!
stop() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 120); do
  curl -fsS "$base/ready" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$work/server.log"; exit 1; }
  sleep 0.5
done

# Log in both before any run (the generated wrong passwords soon throttle this address), and book one
# consultation with a guest, whose ids the runs use as path parameters.
eval "$("$BIN/python" - "$base" <<'PY'
import sys
from datetime import UTC, datetime, timedelta

import httpx

http = httpx.Client(base_url=sys.argv[1], timeout=30)


def token(email: str) -> str:
    answer = http.post("/api/v1/auth/login", json={"email": email, "password": "demo-password-2026"})
    answer.raise_for_status()
    return str(answer.json()["access_token"])


admin, coach = token("admin@demo.telecon.invalid"), token("coach.mueller@demo.telecon.invalid")
doctor = token("dr.weber@demo.telecon.invalid")
auth = {"Authorization": f"Bearer {coach}"}
specialist = next(s for s in http.get("/api/v1/specialists", headers=auth).json() if s["profession"] == "physician")
participant = http.get("/api/v1/participants", headers=auth).json()[0]
kind = next(k for k in http.get("/api/v1/consultation-types", headers=auth).json() if not k["professions"])
start = datetime.now(UTC) + timedelta(days=2)
window = {"start": start.isoformat(), "end": (start + timedelta(days=14)).isoformat()}
query = {"consultation_type_id": kind["id"], "specialist_id": specialist["id"], **window}
slot = http.get("/api/v1/slots", params=query, headers=auth).json()["slots"][0]
booking = {
    "participant_id": participant["id"],
    "specialist_id": specialist["id"],
    "consultation_type_id": kind["id"],
    "start": slot["start"],
    "guests": [{"name": "Dolmetscherin", "language": "tr"}],
}
booked = http.post("/api/v1/consultations", json=booking, headers=auth)
booked.raise_for_status()
consultation = booked.json()
attendees = {a["kind"]: a for a in consultation["attendees"]}
values = {
    "ADMIN_TOKEN": admin,
    "COACH_TOKEN": coach,
    "SPECIALIST_TOKEN": doctor,
    "SPECIALIST_ID": specialist["id"],
    "PARTICIPANT_ID": participant["id"],
    "TYPE_ID": kind["id"],
    "CONSULTATION_ID": consultation["id"],
    "ATTENDEE_ID": attendees["guest"]["id"],
    "JOIN_TOKEN": attendees["participant"]["join_url"].rsplit("/", 1)[1],
}
print("\n".join(f"export {name}={value}" for name, value in values.items()))
PY
)"

status=0
for who in ADMIN COACH SPECIALIST; do
  echo "--- schemathesis as the demo ${who,,}, for ${MAX_TIME}s"
  token_var="${who}_TOKEN"
  "$BIN/schemathesis" --config-file .ci/schemathesis.toml --no-color run "$base/schema/openapi.json" \
    --header "Authorization: Bearer ${!token_var}" --max-time "$MAX_TIME" || status=$?
done
if grep -q "unhandled" "$work/server.log"; then
  echo "--- the server logged unhandled errors:"
  grep -m 20 -A3 "unhandled" "$work/server.log"
  status=1
fi
exit "$status"
