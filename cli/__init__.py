"""The launcher: the `hotline` command and the processes it starts and supervises.

The composition root of processes: the only package that starts gunicorn, the
workers, an embedded Valkey or the carrier simulator. It may import every other
package; none imports it (see `cli/README.md`).
"""
