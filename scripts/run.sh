#!/usr/bin/env bash
# Start the local Microsoft stand-in and the app side by side; Ctrl-C stops both.
set -euo pipefail
bin=$1 host=$2 port=$3 standin_port=$4 client=$5 smtp_port=${6:-2525} imap_port=${7:-1143}

# The stand-in also plays Exchange Online's SMTP (XOAUTH2) and, when Debian's dovecot-imapd is
# installed, its IMAP; new Email Settings are pre-filled with these loopback servers.
"$bin/python" -m standin --host 127.0.0.1 --port "$standin_port" --client "$client" \
    --smtp-port "$smtp_port" --imap-port "$imap_port" &
standin_pid=$!
export MAIL_DEFAULT_SMTP="127.0.0.1:$smtp_port:none" MAIL_DEFAULT_IMAP="127.0.0.1:$imap_port:none"
trap 'kill $standin_pid 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  CRM is starting at  http://$host:$port/login
  Local Microsoft stand-in (no Azure tenant needed): http://127.0.0.1:$standin_port
  Its mail servers (Emails > Email Settings is pre-filled with them): SMTP 127.0.0.1:$smtp_port,
  IMAP 127.0.0.1:$imap_port (needs dovecot-imapd). Put mail into a mailbox with
  curl -X POST -H 'Content-Type: application/json' -d '{"count": 5}' \
    http://127.0.0.1:$standin_port/_standin/mail/mailboxes/adele@contoso.example/messages
  Log in as admin / admin-password (admin), sally / sally-password or max / max-password1.
  Stop with Ctrl-C.

MSG
"$bin/gunicorn" -w 2 -b "$host:$port" --access-logfile - 'app:create_app()'
