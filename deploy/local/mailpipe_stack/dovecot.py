"""Dovecot for IMAP, IMAPS, POP3 and POP3S on loopback, with a self-signed certificate.

Any user name logs in with the one test password (a static passdb), so every test and the demo
can have mailboxes of their own without editing files. Mail is Maildir under the runtime folder.
The stack's Postfix (postfix.py) delivers into it over LMTP on loopback and authenticates its
submission clients against it through the ``auth-postfix`` socket.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import signal
from pathlib import Path

from .base import Layout, Ports, make_tls_pair, need_binary, pid_alive, spawn, stop_pid, tls_pair, wait_until

PASSWORD = "mailpipe-test"
MAIL_UID = 5000  # no system user needed: Dovecot only wants a uid inside first/last_valid_uid


class Dovecot:
    name = "dovecot"

    def __init__(self, lay: Layout, ports: Ports) -> None:
        self.lay = lay
        self.dir = lay.runtime / "dovecot"
        self.conf = self.dir / "dovecot.conf"
        self.cert, self.key = tls_pair(lay)
        self.mail = self.dir / "mail"
        self.log_file = self.dir / "dovecot.log"
        # Postfix's SASL client connects here (smtpd_sasl_type = dovecot); Postfix runs as "postfix".
        self.auth_socket = self.dir / "run" / "auth-postfix"
        up = self.running()
        self.ports = {p: ports.get(p, up) for p in ("imap", "imaps", "pop3", "pop3s", "lmtp")}
        # Where Dovecot asks whether an XOAUTH2 bearer token is valid. Nothing of the stack listens
        # there: a test that needs OAuth2 serves its own introspection endpoint on this port.
        self.ports["oauth_introspection"] = ports.get("oauth_introspection", up)

    def running(self) -> bool:
        return pid_alive(self.dir / "dovecot.pid") is not None

    def env(self) -> dict[str, str]:
        return {
            "MAILPIPE_STACK_IMAP_HOST": "127.0.0.1",
            **{f"MAILPIPE_STACK_{k.upper()}_PORT": str(v) for k, v in self.ports.items()},
            "MAILPIPE_STACK_MAIL_PASSWORD": PASSWORD,
            "MAILPIPE_STACK_TLS_CA": str(self.cert),
            "MAILPIPE_STACK_MAIL_ROOT": str(self.mail),
            "MAILPIPE_STACK_DOVECOT_CONF": str(self.conf),
        }

    def install(self) -> None:
        need_binary("/usr/sbin/dovecot", "dovecot-imapd", "dovecot-pop3d")
        need_binary("/usr/lib/dovecot/lmtp", "dovecot-lmtpd")
        need_binary("openssl", "openssl")

    def start(self) -> None:
        for sub in ("run", "state", "mail"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(self.mail, MAIL_UID, MAIL_UID)
        make_tls_pair(self.cert, self.key)
        self._write_config()
        # -F keeps the master in the foreground so the pid we record is the one to stop.
        spawn(["/usr/sbin/dovecot", "-F", "-c", str(self.conf)], self.dir / "dovecot.out", self.dir / "dovecot.pid")

    def refresh(self) -> bool:
        """Bring a running Dovecot to this file's configuration: when the generated text changed (a
        stack started before Dovecot gained LMTP and the Postfix auth socket), rewrite it and SIGHUP
        the master, which re-reads it and opens the new listeners keeping its pid, ports and open
        sessions. Returns whether it reloaded; an unchanged configuration is left alone."""
        pid = pid_alive(self.dir / "dovecot.pid")
        if pid is None:
            return False
        self.install()  # `up` installs only what is not running, and the new config needs the lmtp binary
        if not self._write_config():
            return False
        os.kill(pid, signal.SIGHUP)
        return True

    def _write_config(self) -> bool:
        """Write dovecot.conf and oauth2.conf.ext; returns whether either changed."""
        files = {
            self.conf: self._config(),
            self.dir / "oauth2.conf.ext": (
                "introspection_mode = post\n"
                f"introspection_url = http://127.0.0.1:{self.ports['oauth_introspection']}/introspect\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"),
        }
        changed = False
        for path, text in files.items():
            if not path.exists() or path.read_text() != text:
                path.write_text(text)
                changed = True
        return changed

    def wait_ready(self) -> None:
        def check() -> None:
            import imaplib
            import poplib
            import smtplib
            import ssl

            ctx = ssl.create_default_context(cafile=str(self.cert))
            with imaplib.IMAP4("127.0.0.1", self.ports["imap"], timeout=3) as imap:
                imap.login("probe", PASSWORD)
            with imaplib.IMAP4_SSL("127.0.0.1", self.ports["imaps"], ssl_context=ctx, timeout=3) as imap:
                imap.login("probe", PASSWORD)
            pop = poplib.POP3("127.0.0.1", self.ports["pop3"], timeout=3)
            pop.user("probe")
            pop.pass_(PASSWORD)
            pop.quit()
            with smtplib.LMTP("127.0.0.1", self.ports["lmtp"], timeout=3) as lmtp:
                code, _ = lmtp.ehlo("probe")  # smtplib's LMTP sends LHLO for ehlo()
                if code != 250:
                    raise ConnectionError(f"LMTP LHLO answered {code}")

        wait_until(check, "Dovecot", 30, self.log_file)

    def stop(self) -> None:
        stop_pid(self.dir / "dovecot.pid", "dovecot")

    def _postfix_auth_listener(self) -> str:
        """Where Postfix's smtpd asks whether a submission client's AUTH is good (the same passdbs
        as IMAP), readable by the postfix user only. Left out while Postfix is not installed (no
        such user: Dovecot would refuse to start); `up` installs everything before starting
        anything, and reloads a running Dovecot whose configuration changed."""
        try:
            pwd.getpwnam("postfix")
        except KeyError:
            return ""
        return (f"service auth {{\n  unix_listener {self.auth_socket.name} {{\n"
                "    mode = 0660\n    user = postfix\n    group = postfix\n  }\n}\n")

    def _config(self) -> str:
        instance = "mailpipe-" + hashlib.sha1(str(self.dir).encode()).hexdigest()[:8]
        dh = Path("/usr/share/dovecot/dh.pem")
        p = self.ports
        return f"""\
# Generated by deploy/local/mailpipe_stack/dovecot.py on every start; edit that file instead.
protocols = imap pop3 lmtp
listen = 127.0.0.1
base_dir = {self.dir}/run
state_dir = {self.dir}/state
instance_name = {instance}
log_path = {self.log_file}
ssl = yes
ssl_cert = <{self.cert}
ssl_key = <{self.key}
{f"ssl_dh = <{dh}" if dh.exists() else ""}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
# Tests provoke failed logins on purpose; without this, Dovecot's per-IP auth penalty would slow
# every later login from 127.0.0.1 by up to 15 s.
login_trusted_networks = 127.0.0.0/8
passdb {{
  driver = static
  args = password={PASSWORD}
  mechanisms = plain login
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.dir}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={self.mail}/%u allow_all_users=yes
}}
first_valid_uid = {MAIL_UID}
last_valid_uid = {MAIL_UID}
first_valid_gid = {MAIL_UID}
last_valid_gid = {MAIL_UID}
mail_location = maildir:~/Maildir
pop3_uidl_format = %08Xu%08Xv
mail_max_userip_connections = 200
service imap-login {{
  inet_listener imap {{
    port = {p['imap']}
  }}
  inet_listener imaps {{
    port = {p['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {p['pop3']}
  }}
  inet_listener pop3s {{
    port = {p['pop3s']}
    ssl = yes
  }}
}}
# Postfix delivers here: every recipient domain is local to the stack, and the mailbox is the
# recipient's local part (lower-cased, as auth_username_format lower-cases IMAP logins), so mail
# to alice-x1@any.domain lands in the INBOX that IMAP user alice-x1 reads.
service lmtp {{
  inet_listener lmtp {{
    port = {p['lmtp']}
  }}
}}
protocol lmtp {{
  auth_username_format = %Ln
}}
{self._postfix_auth_listener()}
# Postfix's AUTH requests carry the client's address (127.0.0.1) but, unlike the login processes,
# cannot be exempted by login_trusted_networks: one wrong password in a test would delay every
# later SMTP login of every test by 2-15 s. Without this socket the auth process has no penalty.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

