"""Postfix as the stack's SMTP server: a standalone instance on 127.0.0.1 that delivers every
recipient into the stack's Dovecot over LMTP, so mail sent through it lands in mailboxes the
fetcher reads.

Three listeners, the roles a real provider offers:
  smtp        (port-25 role) takes mail for delivery from anyone, no AUTH, STARTTLS offered
  submission  (587 role) STARTTLS required before AUTH, AUTH required to send
  smtps       (465 role) implicit TLS, AUTH required
AUTH is Dovecot's (any user name with the stack password). On submission and smtps an
authenticated user ``bob`` may use the envelope sender ``bob`` or ``bob@<any domain>`` only (553
otherwise). Recipients whose local part starts with ``refuse-`` get a 550 and ``defer-`` a 450 on
every listener, so a sender's permanent and transient failure paths can be tried for real.
Nothing is relayed anywhere else: every domain is local.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from .base import Layout, Ports, apt_install, log, make_tls_pair, pid_alive, run, spawn, stop_pid, wait_until
from .dovecot import PASSWORD, Dovecot

MAIN_CF = Path("/etc/postfix/main.cf")
MASTER = "/usr/lib/postfix/sbin/master"
MAX_MESSAGE_BYTES = 10_240_000  # Postfix's default message_size_limit, stated so senders can rely on it
LISTENERS = ("smtp", "submission", "smtps")
# Submission and smtps: AUTH first, then only your own envelope sender; the checks run at MAIL
# (smtpd_delay_reject=no) so a refused sender is a refused MAIL, not a refused RCPT.
AUTHENTICATED = (
    "-o smtpd_sasl_auth_enable=yes -o smtpd_delay_reject=no"
    " -o smtpd_sender_restrictions=reject_authenticated_sender_login_mismatch,permit_sasl_authenticated,reject"
    " -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
)
TABLES = {
    # Every domain is the stack's own, and every address has a mailbox (Dovecot's userdb takes any).
    "everything.regexp": "/^/ OK\n",
    # Who owns an envelope sender: bob@any.domain and plain bob belong to the login bob (and to a
    # login spelled as the whole address).
    "sender_logins.regexp": "/^(([^@]+)@.*)$/ $1, $2\n/^([^@]+)$/ $1\n",
    "recipients.regexp": (
        "/^refuse-/ 550 5.1.1 refused by the mailpipe stack (refuse- recipient)\n"
        "/^defer-/ 450 4.2.0 deferred by the mailpipe stack (defer- recipient)\n"
    ),
}


class Postfix:
    name = "postfix"

    def __init__(self, lay: Layout, ports: Ports, dovecot: Dovecot) -> None:
        self.lay = lay
        self.dovecot = dovecot
        self.dir = lay.runtime / "postfix"  # the postfix user reaches its queue here (runtime, not state)
        self.etc = self.dir / "etc"
        self.queue = self.dir / "queue"
        self.pid_file = self.dir / "postfix.pid"
        self.log_file = self.dir / "postfix.log"  # maillog_file = /dev/stdout, which spawn points here
        up = self.running()
        self.ports = {p: ports.get(p, up) for p in LISTENERS}

    def running(self) -> bool:
        return pid_alive(self.pid_file) is not None

    def env(self) -> dict[str, str]:
        return {
            "MAILPIPE_STACK_SMTP_HOST": "127.0.0.1",
            **{f"MAILPIPE_STACK_{k.upper()}_PORT": str(v) for k, v in self.ports.items()},
            "MAILPIPE_STACK_SMTP_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES),
        }

    def install(self) -> None:
        if not Path(MASTER).exists():
            # Without the preseed the package asks what kind of mail system this is; "No
            # configuration" installs the programs and starts nothing.
            preseed = b"postfix postfix/main_mailer_type select No configuration\n"
            subprocess.run(["debconf-set-selections"], input=preseed, check=True)
            apt_install("postfix")

    def start(self) -> None:
        self._stop_leftovers()
        self.etc.mkdir(parents=True, exist_ok=True)
        self.queue.mkdir(exist_ok=True)  # `postfix check` chdirs into it before creating the rest
        make_tls_pair(self.dovecot.cert, self.dovecot.key)
        for name, text in TABLES.items():
            (self.etc / name).write_text(text)
        (self.etc / "main.cf").write_text(self._main_cf())
        (self.etc / "master.cf").write_text(self._master_cf())
        _allow_config_directory(self.etc)
        # Creates the queue folders with their owners and checks the configuration (as `postfix
        # start` would); then the master runs in the foreground so the pid we record is the one to stop.
        run(["postfix", "-c", str(self.etc), "check"])
        spawn([MASTER, "-c", str(self.etc), "-s"], self.log_file, self.pid_file)

    def wait_ready(self) -> None:
        def check() -> None:
            import smtplib
            import ssl

            ctx = ssl.create_default_context(cafile=str(self.dovecot.cert))
            with smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=5) as smtp:
                smtp.ehlo("probe")
            with smtplib.SMTP("127.0.0.1", self.ports["submission"], timeout=5) as smtp:
                smtp.starttls(context=ctx)
                smtp.login("probe", PASSWORD)
            with smtplib.SMTP_SSL("127.0.0.1", self.ports["smtps"], context=ctx, timeout=5) as smtp:
                smtp.login("probe", PASSWORD)

        wait_until(check, "Postfix", 30, self.log_file)

    def stop(self) -> None:
        stop_pid(self.pid_file, "postfix")  # SIGTERM: the master stops its children and exits
        self._stop_leftovers()

    def _stop_leftovers(self) -> None:
        """Children of a master that was killed (SIGKILL, a crash) may still hold a listening
        socket; they are in the master's process group (spawn starts a new session), and only
        Postfix programs of that group are ended."""
        try:
            old = int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return
        if pid_alive(self.pid_file) is not None:
            return
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                pgid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
                exe = os.readlink(proc / "exe")
            except (OSError, ValueError, IndexError):
                continue
            if pgid == old and exe.startswith("/usr/lib/postfix/"):
                log(f"stopping a leftover Postfix process {proc.name} of a master that is gone")
                os.kill(int(proc.name), signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def _main_cf(self) -> str:
        etc = self.etc
        return f"""\
# Generated by deploy/local/mailpipe_stack/postfix.py on every start; edit that file instead.
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {self.dir}/data
maillog_file = /dev/stdout
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = mailpipe.localhost
mydomain = localhost
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.1/32
relay_domains =
alias_maps =
alias_database =
biff = no
smtpd_peername_lookup = no
message_size_limit = {MAX_MESSAGE_BYTES}
# Dovecot's LMTP does not offer SMTPUTF8: advertised here, such mail would be taken and then
# bounced; not advertised, a sender learns at MAIL that the stack cannot take it.
smtputf8_enable = no
smtpd_banner = $myhostname ESMTP mailpipe stack
# Every domain is a virtual mailbox domain delivered to Dovecot; nothing leaves the machine.
virtual_mailbox_domains = regexp:{etc}/everything.regexp
virtual_mailbox_maps = regexp:{etc}/everything.regexp
virtual_transport = lmtp:inet:127.0.0.1:{self.dovecot.ports['lmtp']}
default_transport = error:the mailpipe stack delivers to its own Dovecot only
# Mail deferred while Dovecot was down (fault tests restart it) is retried within seconds, not
# after Postfix's default 5 minutes.
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s
relay_transport = error:the mailpipe stack delivers to its own Dovecot only
smtpd_tls_chain_files = {self.dovecot.key}, {self.dovecot.cert}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {self.dovecot.auth_socket}
smtpd_sasl_auth_enable = no
smtpd_sasl_security_options = noanonymous
smtpd_sender_login_maps = regexp:{etc}/sender_logins.regexp
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access regexp:{etc}/recipients.regexp
"""

    def _master_cf(self) -> str:
        """Debian's master.cf without its inet services and without chroot (so the Dovecot socket
        and the queue are plain paths), plus our three listeners on loopback."""
        lines: list[str] = []
        skipping = False
        for line in Path("/etc/postfix/master.cf").read_text().splitlines():
            if line.startswith((" ", "\t")):  # an option line of the service above it
                if not skipping:
                    lines.append(line)
                continue
            fields = line.split()
            skipping = bool(fields) and not line.startswith("#") and fields[1] == "inet"
            if skipping or not fields or line.startswith("#"):
                continue
            if len(fields) >= 8:
                fields[4] = "n"
            lines.append(" ".join(fields))
        p = self.ports
        lines += [
            f"127.0.0.1:{p['smtp']} inet n - n - - smtpd",
            f"127.0.0.1:{p['submission']} inet n - n - - smtpd -o syslog_name=postfix/submission"
            f" -o smtpd_tls_security_level=encrypt {AUTHENTICATED}",
            f"127.0.0.1:{p['smtps']} inet n - n - - smtpd -o syslog_name=postfix/smtps"
            f" -o smtpd_tls_wrappermode=yes {AUTHENTICATED}",
        ]
        return "\n".join(lines) + "\n"


def _allow_config_directory(etc: Path) -> None:
    """`postfix -c DIR` refuses (exit 1, no message) a config folder the default main.cf does not
    list in alternate_config_directories; add ours once, keeping whatever else is listed."""
    text = MAIN_CF.read_text() if MAIN_CF.exists() else ""
    match = re.search(r"^alternate_config_directories\s*=(.*)$", text, re.M)
    listed = re.split(r"[\s,]+", match.group(1).strip()) if match else []
    if str(etc) in listed:
        return
    if not MAIN_CF.exists():
        MAIN_CF.write_text("compatibility_level = 3.6\n")
    value = " ".join([*(d for d in listed if d), str(etc)])
    run(["postconf", "-c", str(MAIN_CF.parent), "-e", f"alternate_config_directories = {value}"])
