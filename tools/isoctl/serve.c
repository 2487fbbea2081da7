/*
 * serve.c - `isoctl serve`, the HTTP side of the Prometheus exporter.
 *
 * Work in progress: argument parsing lands first so that main.c can
 * dispatch to it; the HTTP server follows.
 */
#include <stdio.h>
#include <string.h>

#include "serve.h"

int isoctl_serve(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fprintf(stderr, "isoctl serve: not built yet\n");
	return 1;
}
