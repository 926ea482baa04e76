#!/usr/bin/env bash
# Start the local Microsoft stand-in and the app side by side; Ctrl-C stops both.
set -euo pipefail
bin=$1 host=$2 port=$3 standin_port=$4 client=$5

"$bin/python" -m standin --host 127.0.0.1 --port "$standin_port" --client "$client" &
standin_pid=$!
trap 'kill $standin_pid 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  CRM is starting at  http://$host:$port/login
  Local Microsoft stand-in (no Azure tenant needed): http://127.0.0.1:$standin_port
  Log in as admin / admin-password (admin), sally / sally-password or max / max-password1.
  Stop with Ctrl-C.

MSG
"$bin/gunicorn" -w 2 -b "$host:$port" --access-logfile - 'app:create_app()'
