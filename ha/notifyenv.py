"""keepalived's notify wrapper: ``python notifyenv.py ENV_FILE manage.py hanotify ...``.

keepalived runs notify scripts with an empty environment, and its configuration is shown to every role
(View Configuration). The settings hanotify needs (DATABASE_URL may hold the PostgreSQL password) are
therefore not on the notify line: the worker writes them to a 0600 file beside keepalived.conf, and this
wrapper loads them and execs the command (same pid, so hanotify still sees flock as its parent).

A plain script with no project imports: it runs before Django's settings can be found.
"""

import os
import sys


def load_env(path: str) -> dict[str, str]:
    env = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key:
                env[key] = value
    return env


def main(argv: list[str]) -> None:
    env_file, *command = argv
    os.environ.update(load_env(env_file))
    os.execv(sys.executable, [sys.executable, *command])


if __name__ == "__main__":
    main(sys.argv[1:])
