/*
 * exporter_util.c - helpers of the exporter suites (exporter_util.h).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exporter_util.h"

const char *ex_bin_dir(void)
{
	const char *b = getenv("ISOREG_BIN");
	return b && *b ? b : "build/bin";
}

bool ex_have(const char *path)
{
	return access(path, X_OK) == 0;
}

struct ex_child ex_spawn(char *const argv[], const char *out_path)
{
	int pfd[2];
	struct ex_child c = { -1, -1 };

	cr_assert_eq(pipe(pfd), 0);
	pid_t parent = getpid();
	c.pid = fork();
	cr_assert_geq(c.pid, 0);
	if (c.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(pfd[1], 1);
		if (out_path) {
			int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd >= 0) {
				dup2(fd, 1);
				dup2(fd, 2);
			}
		}
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	c.out = pfd[0];
	return c;
}

int ex_stop(struct ex_child *c, int sig)
{
	int st = 0;

	if (c->pid <= 0)
		return 0;
	kill(c->pid, sig);
	waitpid(c->pid, &st, 0);
	c->pid = -1;
	if (c->out >= 0)
		close(c->out);
	c->out = -1;
	return st;
}

int ex_run(char *const argv[], char *out, size_t outlen)
{
	int pfd[2];

	cr_assert_eq(pipe(pfd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		close(pfd[0]);
		close(pfd[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(pfd[1]);
	size_t n = 0;
	ssize_t r;
	while (n + 1 < outlen && (r = read(pfd[0], out + n, outlen - 1 - n)) > 0)
		n += (size_t)r;
	out[n] = 0;
	close(pfd[0]);
	int st;
	waitpid(pid, &st, 0);
	return st;
}

int ex_start_exporter(struct ex_child *c, const char *seg,
		      const char *const extra[])
{
	char bin[512], line[512];
	char *argv[32];
	size_t n = 0;
	int k = 0;

	snprintf(bin, sizeof(bin), "%s/isoctl", ex_bin_dir());
	cr_assert(ex_have(bin), "no %s (set ISOREG_BIN)", bin);
	argv[k++] = bin;
	argv[k++] = "serve";
	argv[k++] = "--listen";
	argv[k++] = "127.0.0.1:0";
	argv[k++] = "--segment";
	argv[k++] = (char *)seg;
	for (int i = 0; extra && extra[i] && k < 31; i++)
		argv[k++] = (char *)extra[i];
	argv[k] = NULL;
	*c = ex_spawn(argv, NULL);

	/* It says where it listens once the socket is bound. */
	while (n + 1 < sizeof(line)) {
		struct pollfd p = { .fd = c->out, .events = POLLIN };
		cr_assert_eq(poll(&p, 1, 10000), 1, "isoctl serve said nothing");
		ssize_t r = read(c->out, line + n, 1);
		cr_assert_eq(r, 1, "isoctl serve exited before listening");
		if (line[n++] == '\n')
			break;
	}
	line[n] = 0;
	const char *at = strstr(line, "://127.0.0.1:");
	cr_assert_not_null(at, "unexpected first line: %s", line);
	return atoi(at + strlen("://127.0.0.1:"));
}

int ex_connect_from(const char *src, int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	struct sockaddr_in s = { .sin_family = AF_INET };

	if (fd < 0)
		return -1;
	inet_pton(AF_INET, src, &s.sin_addr);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&s, sizeof(s)) < 0 ||
	    connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The value of header @name in the head @h ("...\r\n\r\n" cut at the blank line). */
static void header(const char *h, const char *name, char *out, size_t len)
{
	size_t nl = strlen(name);

	out[0] = 0;
	for (const char *p = strstr(h, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, name, nl) == 0 && p[2 + nl] == ':') {
			const char *v = p + 3 + nl;
			while (*v == ' ')
				v++;
			size_t l = strcspn(v, "\r");
			if (l >= len)
				l = len - 1;
			memcpy(out, v, l);
			out[l] = 0;
			return;
		}
	}
}

bool ex_http_get(int port, const char *path, const char *headers,
		 struct ex_reply *r)
{
	int fd = ex_connect_from("127.0.0.1", port);
	struct timeval tv = { .tv_sec = 10 };
	char req[2048];

	memset(r, 0, sizeof(*r));
	if (fd < 0)
		return false;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	int n = snprintf(req, sizeof(req),
			 "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%s\r\n", path,
			 headers ? headers : "");
	if (write(fd, req, (size_t)n) != n) {
		close(fd);
		return false;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t got;
	for (;;) {
		if (cap - len < 4096)
			buf = realloc(buf, cap *= 2);
		got = read(fd, buf + len, cap - len - 1);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	buf[len] = 0;
	char *end = strstr(buf, "\r\n\r\n");
	if (sscanf(buf, "HTTP/1.%*d %d", &r->status) != 1 || !end) {
		free(buf);
		return false;
	}
	*end = 0;
	header(buf, "Content-Type", r->type, sizeof(r->type));
	header(buf, "Content-Encoding", r->encoding, sizeof(r->encoding));
	r->len = len - (size_t)(end + 4 - buf);
	r->body = malloc(r->len + 1);
	memcpy(r->body, end + 4, r->len);
	r->body[r->len] = 0;
	free(buf);
	return true;
}

double ex_sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p = text;

	while ((p = strstr(p, series)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p += n;
	}
	return NAN;
}

size_t ex_count_samples(const char *text, const char *prefix)
{
	size_t n = 0, pl = strlen(prefix);

	for (const char *p = text; *p;) {
		if (*p != '#' && strncmp(p, prefix, pl) == 0)
			n++;
		const char *nl = strchr(p, '\n');
		if (!nl)
			break;
		p = nl + 1;
	}
	return n;
}

int ex_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	close(fd);
	return ntohs(a.sin_port);
}

void ex_make_tmpdir(char *buf, size_t len)
{
	snprintf(buf, len, "/tmp/isoreg-test-exporter-%d-XXXXXX", (int)getpid());
	cr_assert_not_null(mkdtemp(buf), "mkdtemp: %s", strerror(errno));
}

void ex_remove_tmpdir(const char *dir)
{
	char cmd[256];

	if (!dir || !dir[0])
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		cr_log_warn("could not remove %s", dir);
}

void ex_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

void ex_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

bool ex_make_cert(const char *dir, const char *name, const char *ca)
{
	char cmd[2048], out[4096];

	if (!ex_have("/usr/bin/openssl"))
		return false;
	if (!ca)
		snprintf(cmd, sizeof(cmd),
			 "/usr/bin/openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			 "-keyout '%s/%s.key' -out '%s/%s.crt' -days 2 -subj /CN=127.0.0.1 "
			 "-addext subjectAltName=IP:127.0.0.1 2>&1",
			 dir, name, dir, name);
	else
		snprintf(cmd, sizeof(cmd),
			 "/usr/bin/openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
			 "-keyout '%s/%s.key' -out '%s/%s.csr' -subj /CN=%s 2>&1 && "
			 "/usr/bin/openssl x509 -req -in '%s/%s.csr' -CA '%s/%s.crt' -CAkey '%s/%s.key' "
			 "-CAcreateserial -out '%s/%s.crt' -days 2 2>&1",
			 dir, name, dir, name, name, dir, name, dir, ca, dir, ca, dir, name);
	char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	int st = ex_run(argv, out, sizeof(out));
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "openssl failed:\n%s", out);
	return true;
}

void ex_bcrypt(const char *pass, char *out, size_t len)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data cd;

	cr_assert_not_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)),
			   "crypt_gensalt: %s", strerror(errno));
	memset(&cd, 0, sizeof(cd));
	const char *h = crypt_rn(pass, salt, &cd, sizeof(cd));
	cr_assert(h && h[0] == '$', "crypt_rn failed");
	snprintf(out, len, "%s", h);
}
