"""`flask mail fetch`: import new messages of every mailbox whose import is on (for cron)."""

import click

from app.mail import bp
from app.mail import importing as mail_import
from app.mail.transport import MailError


class _Bar(mail_import.Progress):
    """A click progress bar opened once the run knows how many messages are new."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None

    def start(self, total: int) -> None:
        """Open the bar with the number of new messages."""
        self.bar = click.progressbar(length=total, label=self.label, show_pos=True)
        self.bar.__enter__()

    def advance(self, count: int) -> None:
        """Move the bar on."""
        self.bar.update(count)

    def close(self) -> None:
        """Finish the bar's line."""
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


@bp.cli.command("fetch")
def fetch():
    """Import new messages of each mailbox with Import into Emails on, incrementally
    (UIDVALIDITY/UID); exit 1 when one of them could not be imported."""
    accounts = mail_import.inbound_accounts()
    if not accounts:
        click.echo("No mailbox has Import into Emails turned on; nothing to import.")
        return
    failures = 0
    for account in accounts:
        name = account.authorized_email or account.username or account.slot
        bar = _Bar(f"{account.role} {name}")
        try:
            result = mail_import.check_now(account, bar)
        except MailError as error:
            failures += 1
            bar.close()
            click.echo(f"{name}: {error.message}", err=True)
            continue
        bar.close()
        click.echo(f"{name}: {result.message}")
    if failures:
        raise SystemExit(1)
