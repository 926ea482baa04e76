#!/usr/bin/env bash
# Start the local Microsoft stand-in and the app side by side; Ctrl-C stops both.
set -euo pipefail
bin=$1 host=$2 port=$3 standin_port=$4 client=$5 smtp_port=${6:-2525} imap_port=${7:-1143}

# The stand-in also plays Exchange Online's SMTP (XOAUTH2) and, when Debian's dovecot-imapd is
# installed, its IMAP; new Email Settings are pre-filled with these loopback servers.
"$bin/python" -m standin --host 127.0.0.1 --port "$standin_port" --client "$client" \
    --smtp-port "$smtp_port" --imap-port "$imap_port" &
standin_pid=$!
trap 'kill $standin_pid 2>/dev/null || true' EXIT INT TERM

# Like Exchange Online, the stand-in's mail servers speak STARTTLS, with a certificate of its own
# CA: the app trusts that CA (MAIL_CA_FILE) and verifies them as it would Microsoft's.
ca_file=$("$bin/python" - "$standin_port" <<'PY' || true
import json, sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/_standin/mail/servers"
for _ in range(150):
    try:
        print(json.load(urllib.request.urlopen(url, timeout=1))["ca_file"] or "")
        break
    except OSError:
        time.sleep(0.2)
PY
)
security=none
if [ -n "$ca_file" ]; then
  security=starttls
  export MAIL_CA_FILE="$ca_file"
fi
export MAIL_DEFAULT_SMTP="127.0.0.1:$smtp_port:$security"
export MAIL_DEFAULT_IMAP="127.0.0.1:$imap_port:$security"
# A mail token goes only to Microsoft's mail hosts and to hosts the operator lists; loopback is
# never reached otherwise. List the stand-in's two servers (keeping whatever was listed already).
export MAIL_ALLOWED_HOSTS="${MAIL_ALLOWED_HOSTS:+$MAIL_ALLOWED_HOSTS,}127.0.0.1:$smtp_port,127.0.0.1:$imap_port"

cat <<MSG

  CRM is starting at  http://$host:$port/login
  Local Microsoft stand-in (no Azure tenant needed): http://127.0.0.1:$standin_port
  Its mail servers (Emails > Email Settings is pre-filled with them): SMTP 127.0.0.1:$smtp_port,
  IMAP 127.0.0.1:$imap_port (needs dovecot-imapd), security $security. Put mail into a mailbox with
  curl -X POST -H 'Content-Type: application/json' -d '{"count": 5}' \
    http://127.0.0.1:$standin_port/_standin/mail/mailboxes/adele@contoso.example/messages
  Log in as admin / admin-password (admin), sally / sally-password or max / max-password1.
  Stop with Ctrl-C.

MSG
"$bin/gunicorn" -w 2 -b "$host:$port" --access-logfile - 'app:create_app()'
