/*
 * serve.h - `isoctl serve`: the Prometheus exporter.
 *
 * Attaches the segment read-only and answers /metrics and /healthz over HTTP
 * (libmicrohttpd); the metric text itself is made by metrics.c.
 */
#ifndef ISOCTL_SERVE_H
#define ISOCTL_SERVE_H

/**
 * isoctl_serve - run `isoctl serve [--listen ADDR:PORT] [--segment NAME]`.
 * @argc: argument count, argv[0] included.
 * @argv: argv[0] is "serve"; options follow.
 *
 * Serves until SIGINT or SIGTERM. Returns the process exit code: 0 after a
 * clean stop, 1 on a runtime error (address in use, segment missing or
 * unreadable), 2 on a usage error. Call from the main thread only; it
 * installs signal handlers for SIGINT and SIGTERM.
 */
int isoctl_serve(int argc, char **argv);

#endif /* ISOCTL_SERVE_H */
