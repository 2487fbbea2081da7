/*
 * exporter_util.h - what the exporter suites (test_exporter*.c) share:
 * child processes that die with the test, `isoctl serve` started on a free
 * loopback port, a small HTTP/1.1 client that can bind a chosen loopback
 * source address and send extra headers, and the sample parser.
 *
 * Loopback only: every address here is in 127.0.0.0/8.
 */
#ifndef ISO_TEST_EXPORTER_UTIL_H
#define ISO_TEST_EXPORTER_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct ex_child {
	pid_t pid;
	int out; /* its stdout, or -1 */
};

/* The directory of the built tools ($ISOREG_BIN or build/bin). */
const char *ex_bin_dir(void);

/* True if @path is an executable file. */
bool ex_have(const char *path);

/*
 * ex_spawn - start argv[0] with PR_SET_PDEATHSIG, so a failed assertion
 * never leaves it behind; stdout is a pipe (c.out), or stdout and stderr go
 * to @out_path if given.
 */
struct ex_child ex_spawn(char *const argv[], const char *out_path);

/* ex_stop - signal @c with @sig and reap it; returns its wait status. */
int ex_stop(struct ex_child *c, int sig);

/* ex_run - run argv to completion, stdout and stderr into @out; returns the wait status. */
int ex_run(char *const argv[], char *out, size_t outlen);

/*
 * ex_start_exporter - `isoctl serve --listen 127.0.0.1:0 --segment @seg`
 * plus @extra (NULL-terminated, may be NULL); waits for its line saying
 * where it listens and returns the port. Fails the test if it exits first.
 */
int ex_start_exporter(struct ex_child *c, const char *seg,
		      const char *const extra[]);

/* A reply: status code, some headers, the body (NUL-terminated, @len bytes). */
struct ex_reply {
	int status;
	char type[128];
	char encoding[64];
	char *body;
	size_t len;
};

/*
 * ex_http_get - GET @path on 127.0.0.1:@port over HTTP/1.0 with @headers
 * ("Name: value\r\n" lines, or NULL) added; the connection comes from
 * 127.0.0.1. Waits at most 10 s for the answer. Returns false if nothing
 * answered; else the caller frees r->body.
 */
bool ex_http_get(int port, const char *path, const char *headers,
		 struct ex_reply *r);

/*
 * ex_connect_from - a TCP connection to 127.0.0.1:@port from the loopback
 * address @src ("127.0.0.2"); -1 if it could not connect.
 */
int ex_connect_from(const char *src, int port);

/* The value of the sample named exactly @series ("name{labels}"), or NaN. */
double ex_sample(const char *text, const char *series);

/* Lines of @text that are samples (not comments) and start with @prefix. */
size_t ex_count_samples(const char *text, const char *prefix);

/* A loopback port nobody listens on right now. */
int ex_free_port(void);

/* A fresh directory /tmp/isoreg-test-exporter-*, its path into @buf (128 bytes). */
void ex_make_tmpdir(char *buf, size_t len);

/* rm -rf @dir (a directory ex_make_tmpdir made). */
void ex_remove_tmpdir(const char *dir);

void ex_write_file(const char *path, const char *text);
void ex_sleep_ms(long ms);



/*
 * ex_make_cert - with the openssl command: @dir/@name.crt and @dir/@name.key,
 * an EC P-256 certificate for 127.0.0.1, self-signed (@ca NULL) or signed
 * by @dir/@ca.crt and .key. Returns false if openssl is not installed.
 */
bool ex_make_cert(const char *dir, const char *name, const char *ca);

/* ex_bcrypt - a bcrypt ($2b$, cost 4: fast, for tests) hash of @pass into @out (128 bytes). */
void ex_bcrypt(const char *pass, char *out, size_t len);
#endif
