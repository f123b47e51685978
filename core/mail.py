"""Email out, through the help desk's SMTP server (`SMTP_URL`).

`smtp://[user:password@]host[:port]` (STARTTLS when the server offers it),
`smtps://...` (TLS from the start). Every connection has a timeout: a mail
server that hangs fails the send, it never holds a web thread for long.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from core.errors import HotlineError

SMTP_TIMEOUT_SECONDS = 10.0


class MailError(HotlineError):
    """The mail server refused the message or could not be reached."""


@dataclass(frozen=True, slots=True)
class Mailer:
    host: str
    port: int
    sender: str  # the From address
    user: str = ""
    password: str = ""
    tls: bool = False  # smtps://: TLS from the first byte

    @classmethod
    def from_url(cls, url: str, sender: str) -> Mailer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 25),
            sender=sender,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            tls=tls,
        )

    def send(self, to: str, subject: str, text: str, html: str = "") -> None:
        """One message, plain text with an HTML alternative when given."""
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        try:
            if self.tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host,
                    self.port,
                    timeout=SMTP_TIMEOUT_SECONDS,
                    context=ssl.create_default_context(),
                )
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
            with smtp:
                smtp.ehlo_or_helo_if_needed()
                if not self.tls and smtp.has_extn("starttls"):
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"could not send the email: {exc}") from exc
