"""The smarthost as an ordinary authenticated relay: STARTTLS when it offers it (implicit TLS on
port 465), AUTH with the credentials of EASLAB_SMARTHOST_USER / EASLAB_SMARTHOST_PASSWORD, and a
refusal told as one line that names the step and the relay's own answer, which the outbound queue
keeps as the message's last error (server/outbound.py).

Credentials go only over TLS: a relay that offers no STARTTLS gets none, and the line says so,
rather than a password crossing the lab network in clear.  The relay's certificate is checked
against the system's roots, or the CA file of EASLAB_SMARTHOST_CA (a lab relay's own CA).
"""
from __future__ import annotations

import os
import smtplib
import ssl
from dataclasses import dataclass, field

SMTPS_PORT = 465


class RelayError(Exception):
    """The relay did not take the message; the text says at which step and why."""


@dataclass(frozen=True)
class Relay:
    host: str
    port: int = 25
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    @classmethod
    def of(cls, smarthost: str | None, env=None) -> Relay | None:
        """The relay of `--smarthost HOST:PORT`, with the credentials and CA of the environment."""
        if not smarthost:
            return None
        env = os.environ if env is None else env
        host, _, port = smarthost.rpartition(":")
        if not host or not port.isdigit():
            host, port = smarthost, "25"
        return cls(host.strip("[]"), int(port), env.get("EASLAB_SMARTHOST_USER") or None,
                   env.get("EASLAB_SMARTHOST_PASSWORD"), env.get("EASLAB_SMARTHOST_CA") or None)

    def tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cafile)

    def send(self, sender: str, recipients: list[str], data: bytes, context: ssl.SSLContext | None = None) -> None:
        """Hand one message to the relay; RelayError when it does not take it."""
        context = context or self.tls_context()
        step = "connect"
        try:
            if self.port == SMTPS_PORT:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=30, context=context)
            else:
                smtp = smtplib.SMTP(self.host, self.port, timeout=30)
            with smtp:
                step = "EHLO"
                smtp.ehlo()
                secure = self.port == SMTPS_PORT
                if not secure and smtp.has_extn("starttls"):
                    step = "STARTTLS"
                    smtp.starttls(context=context)
                    smtp.ehlo()
                    secure = True
                if self.user:
                    step = "AUTH"
                    self._login(smtp, secure)
                step = "sending"
                smtp.sendmail(sender, recipients, data)
        except RelayError:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(f"{rcpt}: {code} {_text(text)}" for rcpt, (code, text) in exc.recipients.items())
            raise RelayError(f"RCPT TO refused: {refused}") from exc
        except smtplib.SMTPSenderRefused as exc:
            raise RelayError(f"MAIL FROM refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPDataError as exc:
            raise RelayError(f"DATA refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except smtplib.SMTPResponseException as exc:
            raise RelayError(f"{step} refused: {exc.smtp_code} {_text(exc.smtp_error)}") from exc
        except ssl.SSLCertVerificationError as exc:
            raise RelayError(f"{step}: the relay's certificate is not trusted ({exc.verify_message}); "
                             f"EASLAB_SMARTHOST_CA names a CA file to trust") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise RelayError(f"{step}: {exc or type(exc).__name__}") from exc

    def _login(self, smtp: smtplib.SMTP, secure: bool) -> None:
        if not secure:
            raise RelayError("AUTH: the relay offers no STARTTLS, and easlab sends credentials only over TLS")
        if not smtp.has_extn("auth"):
            raise RelayError("AUTH: the relay offers no AUTH; unset EASLAB_SMARTHOST_USER for a relay that "
                             "takes mail without a login")
        smtp.login(self.user or "", self.password or "")


def _text(answer: bytes | str) -> str:
    return answer.decode("utf-8", "replace") if isinstance(answer, bytes) else str(answer)
