"""A real PostgreSQL server for the compliance store (RDS) and the warehouse (Redshift).

System binaries (``initdb``/``pg_ctl``) when present, else the ``pgserver``
wheel's bundled ones. ``initdb`` refuses to run as root, so as root the server
runs as the ``postgres`` (or ``nobody``) user. A free port on 127.0.0.1 is picked
at every start; the password is generated per data directory and kept in it
(mode 0600), never in code.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lambdas.migrate_databases.roles import COMPLIANCE_ROLES, WAREHOUSE_ROLES
from orchestration.runtime.ports import free_port
from orchestration.runtime.private_file import write_private

#: The server's superuser: stands in for the RDS master / Redshift admin (owns the databases, creates
#: the roles through the deploy-time migration step, lambdas/migrate_databases). No runtime function
#: logs in as it.
SUPERUSER = "mtx_admin"
DATABASES = ("compliance", "warehouse")
#: The login roles of lambdas/migrate_databases/roles.py, each with a password generated per data
#: directory (mode 0600, never in code).
LOGIN_ROLES = (*COMPLIANCE_ROLES, *WAREHOUSE_ROLES)


class PostgresError(RuntimeError):
    pass


def _find_bin_dir() -> Path:
    for candidate in ("pg_ctl",):
        found = shutil.which(candidate)
        if found:
            return Path(os.path.realpath(found)).parent
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "pg_ctl").exists():
            return base
    try:
        import pgserver

        return Path(pgserver.__file__).parent / "pginstall" / "bin"
    except ImportError:
        raise PostgresError(
            "no PostgreSQL server binaries found: install postgresql (Debian) or `pip install pgserver`"
        ) from None


#: seconds a stop waits for the server of an interrupted start to write its pid file
STARTING_WAIT = 10.0


@dataclass
class PostgresServer:
    root: Path
    port: int = 0
    password: str = ""
    role_passwords: dict[str, str] = field(default_factory=dict)
    #: ``pg_ctl start`` was launched and has not returned: a server may be coming up with no pid file yet
    _starting: bool = field(default=False, init=False, repr=False, compare=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def pid_file(self) -> Path:
        """The postmaster's pid file: written early in its start-up, removed at its shutdown."""
        return self.data_dir / "postmaster.pid"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None) -> str:
        pw = self.password if password is None else password
        return f"postgresql://{user}:{pw}@127.0.0.1:{self.port}/{dbname}"

    def role_dsn(self, dbname: str, role: str) -> str:
        """DSN of one of the LOGIN_ROLES (its password from this data directory)."""
        return self.dsn(dbname, user=role, password=self.role_passwords[role])

    # ------------------------------------------------------------------
    def _run_as(self) -> list[str]:
        if os.geteuid() != 0:
            return []
        for user in ("postgres", "nobody"):
            try:
                pwd.getpwnam(user)
            except KeyError:
                continue
            return ["runuser", "-u", user, "--"]
        raise PostgresError("running as root and no unprivileged user (postgres/nobody) to run PostgreSQL")

    def _owner(self) -> tuple[int, int] | None:
        prefix = self._run_as()
        if not prefix:
            return None
        entry = pwd.getpwnam(prefix[2])
        return entry.pw_uid, entry.pw_gid

    def _chown_tree(self) -> None:
        owner = self._owner()
        if owner is None:
            return
        for path in [self.root, *self.root.rglob("*")]:
            os.chown(path, *owner)

    def _pg(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*self._run_as(), str(_find_bin_dir() / args[0]), *args[1:]]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
        if check and result.returncode != 0:
            raise PostgresError(f"{args[0]} failed ({result.returncode}): {result.stderr.strip()[-2000:]}")
        return result

    def _check_reachable(self) -> None:
        prefix = self._run_as()
        if prefix and subprocess.run([*prefix, "test", "-x", str(self.root)], check=False).returncode != 0:
            raise PostgresError(
                f"PostgreSQL runs as {prefix[2]!r} (initdb refuses root) and cannot reach {self.root}: "
                "every parent folder must be traversable (o+x); "
                "use a home folder such as /tmp/... or the repo's .local/"
            )

    def initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        pwfile = self.root / "superuser.pw"
        roles_dir = self.root / "roles"
        roles_dir.mkdir(mode=0o700, exist_ok=True)
        for role in LOGIN_ROLES:
            role_pwfile = roles_dir / f"{role}.pw"
            if not role_pwfile.exists():
                write_private(role_pwfile, secrets.token_urlsafe(24))
            self.role_passwords[role] = role_pwfile.read_text().strip()
        self._check_reachable()
        if not self.initialised():
            write_private(pwfile, secrets.token_urlsafe(24))
            self._chown_tree()
            self._pg(
                "initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "--auth=scram-sha-256",
                f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
            )  # fmt: skip
        self.password = pwfile.read_text().strip()

    def running(self) -> bool:
        return self._pg("pg_ctl", "status", "-D", str(self.data_dir), check=False).returncode == 0

    def start(self) -> None:
        self.init()
        if self.running():
            self._pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", check=False)
        self.port = self.port or free_port()
        self._chown_tree()
        # A local server: no durability against an OS crash (fsync and full-page writes off) but every
        # acknowledged commit survives the server being killed (synchronous_commit stays on: the WAL is
        # written to the OS at commit; with it off, a kill -9 lost the last ~0.6 s of stored transactions,
        # which the PII canary test caught as rows missing from the compliance store after a restart). No WAL
        # for tables created and filled in one transaction (wal_level=minimal: dbt's table builds, CTAS),
        # no checkpoint in the middle of a million-row build (max_wal_size), and sorts and hashes of the
        # marts in memory (work_mem; maintenance_work_mem for index builds), and no JIT compilation:
        # on these statements compiling cost more than it saved (a full dbt build 8% faster without it,
        # the hand-written baseline 2-8%), and a statement whose row estimate is far off (a CTE without
        # statistics) paid 0.6 s of compilation to read 20,000 rows. Redshift compiles its own way. The
        # dbt bench's baseline runs on the same server with the same settings.
        opts = (
            f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=on -c full_page_writes=off -c max_connections=200 "
            "-c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=4GB "
            "-c work_mem=64MB -c maintenance_work_mem=256MB -c jit=off"
        )
        self._starting = True
        try:
            self._pg(
                "pg_ctl", "start", "-D", str(self.data_dir), "-o", opts, "-l", str(self.log_file), "-w", "-t", "60"
            )  # fmt: skip
        except Exception:
            self._starting = False  # pg_ctl reported the failure: the server is up or gone (status tells)
            raise
        self._starting = False  # still set after an interruption (KeyboardInterrupt, SystemExit): stop() waits
        self._wait_ready()
        self._bootstrap()

    def _wait_ready(self, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.dsn(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresError(f"PostgreSQL did not accept connections; see {self.log_file}") from None
                time.sleep(0.2)

    def _bootstrap(self) -> None:
        """The two databases, owned by the superuser as RDS's and Redshift's are by their master user.
        Roles and schemas are the deploy-time migration's (lambdas/migrate_databases)."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            existing = {r[0] for r in conn.execute("select datname from pg_database")}
            for db in DATABASES:
                if db not in existing:
                    conn.execute(sql.SQL("create database {}").format(sql.Identifier(db)))

    def stop(self) -> None:
        if not self.initialised():
            return
        if self._starting:  # a start interrupted (a SIGTERM, Ctrl-C) before the server wrote its pid file
            self._await_postmaster()
        self._starting = False
        if self.running():
            self._pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "60")

    def _await_postmaster(self, timeout: float = STARTING_WAIT) -> None:
        """Until the server a killed ``pg_ctl start`` launched has its pid file (then ``pg_ctl stop`` can stop
        it), or ``timeout``: pg_ctl forks the postmaster before it writes the file, so a stop in between found
        "no server running" and left it running, with nobody to stop it."""
        deadline = time.monotonic() + timeout
        while not (self.pid_file.exists() and self.running()) and time.monotonic() < deadline:
            time.sleep(0.05)

    def kill(self) -> None:
        """Immediate shutdown: simulates the database going away (tests of retries/redrive)."""
        if self.initialised() and self.running():
            self._pg("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate", "-w", "-t", "60")

    def crash(self, timeout: float = 30.0) -> None:
        """kill -9 of the server and every backend, as a host or process crash does: no shutdown, no
        checkpoint; the next start() runs crash recovery from the WAL (the fault injector's database fault)."""
        if not self.pid_file.exists():
            return
        postmaster = int(self.pid_file.read_text().split()[0])
        victims = [postmaster, *_children(postmaster)]
        for pid in victims:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in victims):
            if time.monotonic() > deadline:
                raise PostgresError(f"PostgreSQL processes survived kill -9: {victims}")
            time.sleep(0.05)

    def restart(self) -> None:
        """Start again on the same port after stop()/kill()/crash()."""
        self.start()


def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc; the backends of a postmaster)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
