/*
 * serve.c - `isoctl serve`: the registry over HTTP for Prometheus [T3].
 *
 * Owns the listening socket, the libmicrohttpd daemon and the read-only
 * attachment, and notices when the segment is unlinked or recreated under
 * it. The metric text is made by metrics.c.
 *
 * Threads: libmicrohttpd runs one internal polling thread and every request
 * is answered on it, so the attachment and the renderers are only ever
 * touched by that thread (no lock), including the callbacks that read a
 * response's body and release its renderer. The main thread just waits for SIGINT
 * or SIGTERM. A scrape reads the segment through a read-only mapping with
 * the library's wait-free readers: it can never hold up a writer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"
#include "metrics.h"
#include "serve.h"
#include "../common/busguard.h"
#include "../common/cli.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"
#define SHM_DIR "/dev/shm/" /* where glibc's shm_open keeps its objects */

/* How long a scrape may wait for a creator to finish a new segment. */
#define SCRAPE_ATTACH_TIMEOUT_MS 200u

/*
 * Renderers, one per response still being sent: a slow scraper keeps its
 * text while the next scrape renders into another. More scrapes in flight
 * than this get 503 (two HA Prometheus servers need two).
 */
#define MAX_RENDERERS 4
#define READ_BLOCK (64u * 1024)

struct renderer {
	struct iso_metrics *m; /* NULL until first needed */
	bool busy;             /* a response is reading from it */
};

struct server {
	const char *segment;     /* as given: "/isoreg" */
	char shm_path[sizeof(SHM_DIR) + NAME_MAX]; /* "/dev/shm/isoreg" */
	iso_reg_t *reg;          /* NULL while the segment is gone */
	dev_t dev;               /* identity of the object attached */
	ino_t ino;
	bool attached_before;    /* so a later attach counts as a re-attach */
	struct renderer pool[MAX_RENDERERS];
	struct iso_metrics_self self;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: isoctl serve [--listen ADDR:PORT] [--segment NAME] [--owner USER|UID]\n"
		"\n"
		"Serve the registry's metrics for Prometheus, attached read-only.\n"
		"  GET /metrics   text exposition format 0.0.4; 503 while the\n"
		"                 segment is missing, refused or damaged\n"
		"  GET /healthz   200 while a valid segment is attached, else 503\n"
		"\n"
		"  -l, --listen ADDR:PORT  address to listen on (default %s;\n"
		"                          [::1]:PORT for IPv6, port 0 picks one)\n"
		"  -s, --segment NAME      segment (default $ISOREG_SEGMENT or %s)\n"
		"  -o, --owner USER|UID    trust a segment of that owner (default\n"
		"                          $ISOREG_OWNER, else your own uid)\n"
		"  -h, --help              this text\n",
		DEFAULT_LISTEN, ISO_DEFAULT_SEGMENT);
}

/* --------------------------------------------------------- the segment */

static const char *attach_detail(int rc)
{
	const char *d = iso_last_error();

	return d && *d ? d : iso_strerror(rc);
}

/*
 * Attach @srv->segment read-only and remember which shm object it is. The
 * object is stat'ed before and after the attach: if they differ, the
 * segment was replaced in between and the attach is tried again, so the
 * identity kept is always the one of the mapping.
 */
static int segment_attach(struct server *srv, uint32_t timeout_ms, char *err,
			  size_t errlen)
{
	struct iso_attach_opts opts = {
		.flags = ISO_ATTACH_RDONLY,
		.attach_timeout_ms = timeout_ms,
	};

	/* Whom to trust, as every tool: ISOREG_OWNER / --owner [R7]. */
	if (cli_trust_opts("isoctl serve", &opts) < 0) {
		snprintf(err, errlen, "segment %s: bad ISOREG_OWNER or "
			 "ISOREG_MODE (see stderr)", srv->segment);
		return -1;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		struct stat before, after;
		iso_reg_t *reg;
		int rc;

		if (stat(srv->shm_path, &before) < 0) {
			if (errno == ENOENT)
				snprintf(err, errlen,
					 "segment %s does not exist (no %s)",
					 srv->segment, srv->shm_path);
			else
				snprintf(err, errlen, "segment %s: %s: %s",
					 srv->segment, srv->shm_path,
					 strerror(errno));
			return -1;
		}
		rc = iso_attach(srv->segment, &opts, &reg);
		if (rc < 0) {
			snprintf(err, errlen, "cannot attach segment %s: %s",
				 srv->segment, attach_detail(rc));
			return -1;
		}
		if (stat(srv->shm_path, &after) == 0 &&
		    after.st_dev == before.st_dev &&
		    after.st_ino == before.st_ino) {
			srv->reg = reg;
			srv->dev = after.st_dev;
			srv->ino = after.st_ino;
			if (srv->attached_before)
				srv->self.reattaches++;
			srv->attached_before = true;
			return 0;
		}
		iso_detach(reg);
	}
	snprintf(err, errlen, "segment %s keeps being replaced; try again",
		 srv->segment);
	return -1;
}

static void segment_detach(struct server *srv)
{
	if (srv->reg) {
		iso_detach(srv->reg);
		srv->reg = NULL;
	}
}

/*
 * Make sure the attachment is the segment that carries the name now. An
 * unlinked segment is dropped (no new trader can attach it; what matters
 * is whatever takes the name next), a recreated one is attached afresh,
 * and one that shrank or was overwritten under us is dropped before its
 * mapping is read again [R7]. Renderers hold text, not pointers into the
 * mapping, so a response still being sent survives the detach. Returns 0,
 * or -1 with @err saying why there is nothing to serve.
 */
static int segment_check(struct server *srv, char *err, size_t errlen)
{
	struct stat st;

	if (stat(srv->shm_path, &st) < 0) {
		segment_detach(srv);
		if (errno == ENOENT)
			snprintf(err, errlen,
				 "segment %s is gone (unlinked); waiting for it to be recreated",
				 srv->segment);
		else
			snprintf(err, errlen, "segment %s: %s: %s",
				 srv->segment, srv->shm_path, strerror(errno));
		return -1;
	}
	if (srv->reg && st.st_dev == srv->dev && st.st_ino == srv->ino) {
		char damage[600];

		if (iso_segment_check(srv->reg) != ISO_ECORRUPT)
			return 0;
		snprintf(damage, sizeof(damage), "%s", iso_last_error());
		segment_detach(srv);
		/* The same object, damaged: attaching it again is refused
		 * until someone puts a valid segment at the name. */
		if (segment_attach(srv, SCRAPE_ATTACH_TIMEOUT_MS, err, errlen) == 0)
			return 0;
		snprintf(err, errlen, "segment %s is damaged (%s); waiting for "
			 "a valid one", srv->segment, damage);
		return -1;
	}
	segment_detach(srv);
	return segment_attach(srv, SCRAPE_ATTACH_TIMEOUT_MS, err, errlen);
}

/* iso_metrics_render as a pass for the SIGBUS guard. */
struct render_pass {
	struct renderer *r;
	struct server *srv;
};

static int render_pass(void *arg)
{
	struct render_pass *p = arg;

	return iso_metrics_render(p->r->m, p->srv->reg, &p->srv->self);
}

/* ------------------------------------------------------------- HTTP */

/* A short text reply; @body is copied. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; charset=utf-8");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *conn,
				  unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum MHD_Result reply_text(struct MHD_Connection *conn,
				  unsigned status, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	return reply(conn, status, msg, (size_t)n);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* MHD asks for the body in blocks; the renderer holds the whole text. */
static ssize_t read_metrics(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct renderer *r = cls;
	size_t n = iso_metrics_read(r->m, (size_t)pos, buf, max);

	return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The response is gone (sent or dropped): its renderer may render again. */
static void release_renderer(void *cls)
{
	struct renderer *r = cls;

	r->busy = false;
}

static struct renderer *take_renderer(struct server *srv)
{
	for (int i = 0; i < MAX_RENDERERS; i++) {
		struct renderer *r = &srv->pool[i];

		if (r->busy)
			continue;
		if (!r->m && !(r->m = iso_metrics_new()))
			return NULL;
		return r;
	}
	return NULL;
}

static enum MHD_Result serve_metrics(struct server *srv,
				     struct MHD_Connection *conn)
{
	char err[1024];
	struct renderer *r;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int rc;

	srv->self.scrapes++;
	if (segment_check(srv, err, sizeof(err)) < 0) {
		srv->self.unavailable++;
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s\n",
				  err);
	}
	r = take_renderer(srv);
	if (!r)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "%d scrapes are still being sent; try again\n",
				  MAX_RENDERERS);
	uint64_t t0 = mono_ns();
	struct render_pass pass = { r, srv };

	rc = tool_bus_guard(render_pass, &pass);
	srv->self.last_render_ns = mono_ns() - t0;
	if (rc == TOOL_BUS_FAULT) {
		/* Shrunk during the render: the text is garbage, the mapping
		 * unreadable. Drop it; a later scrape attaches a valid one. */
		segment_detach(srv);
		srv->self.unavailable++;
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "segment %s damaged: it shrank while being "
				  "read (SIGBUS caught); waiting for a valid "
				  "one\n",
				  srv->segment);
	}
	if (rc < 0)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "cannot read segment %s: %s\n", srv->segment,
				  attach_detail(rc));
	resp = MHD_create_response_from_callback(iso_metrics_len(r->m),
						 READ_BLOCK, read_metrics, r,
						 release_renderer);
	if (!resp)
		return MHD_NO;
	r->busy = true;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				ISO_METRICS_CONTENT_TYPE);
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp); /* freed, and r released, once sent */
	return ret;
}

static enum MHD_Result serve_health(struct server *srv,
				    struct MHD_Connection *conn)
{
	char err[1024];

	if (segment_check(srv, err, sizeof(err)) < 0)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s\n",
				  err);
	return reply_text(conn, MHD_HTTP_OK, "ok: segment %s attached\n",
			  srv->segment);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;

	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method %s not allowed; use GET\n", method);
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(srv, conn);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(srv, conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND,
			  "not found: %s (try /metrics or /healthz)\n", url);
}

/* ---------------------------------------------------------- listening */

/*
 * Split "HOST:PORT" or "[V6]:PORT" into @host and @port. An empty host
 * ("":9464) means every interface. Returns 0 or -1.
 */
static int split_listen(const char *s, char *host, size_t hostlen,
			char *port, size_t portlen)
{
	const char *colon;
	size_t hl;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hl = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -1;
		hl = (size_t)(colon - s);
	}
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	if (!*port || strspn(port, "0123456789") != strlen(port))
		return -1;
	return strlen(port) > 5 || strtoul(port, NULL, 10) > 65535 ? -1 : 0;
}

/* "ADDR:PORT" of a bound socket, for the message that says where we are. */
static void describe_socket(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN], port[8];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port,
			sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf, len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s",
		 host, port);
}

/* Bind and listen on @host:@port; -1 with a message naming the address. */
static int open_listener(const char *listen_at, const char *host,
			 const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_STREAM,
		.ai_flags = AI_PASSIVE | AI_NUMERICSERV,
	};
	struct addrinfo *ai;
	int rc, fd = -1, saved = 0;

	rc = getaddrinfo(*host ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "isoctl serve: cannot listen on %s: %s\n",
			listen_at, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int one = 1;

		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
			    a->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		/* Lets a restart rebind past TIME_WAIT; a live listener still wins. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 &&
		    listen(fd, 64) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		fprintf(stderr, "isoctl serve: cannot listen on %s: %s%s\n",
			listen_at, strerror(saved),
			saved == EADDRINUSE
				? " (another exporter or service holds this port; pick another with --listen)"
				: "");
		return -1;
	}
	return fd;
}

/* -------------------------------------------------------------- main */

int isoctl_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "segment", required_argument, NULL, 's' },
		{ "owner", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server srv = { 0 };
	const char *listen_at = DEFAULT_LISTEN;
	char err[1024], where[300], host[256], port[8];
	struct MHD_Daemon *d;
	sigset_t sigs;
	int c, fd, sig;

	srv.segment = NULL;
	optind = 0; /* a fresh scan: main.c may have run getopt already */
	opterr = 0; /* the message below names the option in our words */
	while ((c = getopt_long(argc, argv, "+:l:s:o:h", longopts, NULL)) != -1) {
		uid_t uid;

		switch (c) {
		case 'l': listen_at = optarg; break;
		case 's': srv.segment = optarg; break;
		case 'o':
			/* Exported: every re-attach reads it (cli_trust_opts). */
			if (cli_parse_owner("isoctl serve", "--owner", optarg, &uid) < 0 ||
			    setenv("ISOREG_OWNER", optarg, 1) != 0)
				return 2;
			break;
		case 'h': usage(stdout); return 0;
		case ':':
			fprintf(stderr, "isoctl serve: option '%s' needs a value\n",
				argv[optind - 1]);
			return 2;
		default:
			fprintf(stderr, "isoctl serve: unknown option '%s'\n",
				argv[optind - 1]);
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "isoctl serve: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (split_listen(listen_at, host, sizeof(host), port, sizeof(port)) < 0) {
		fprintf(stderr,
			"isoctl serve: bad --listen '%s': want ADDR:PORT (port 0-65535), e.g. %s or [::1]:9464\n",
			listen_at, DEFAULT_LISTEN);
		return 2;
	}
	if (!srv.segment)
		srv.segment = iso_segment_name();
	const char *base = srv.segment;
	while (*base == '/')
		base++;
	if (!*base || strchr(base, '/') ||
	    snprintf(srv.shm_path, sizeof(srv.shm_path), SHM_DIR "%s", base) >=
		    (int)sizeof(srv.shm_path)) {
		fprintf(stderr,
			"isoctl serve: bad segment name '%s': want /NAME without further slashes\n",
			srv.segment);
		return 2;
	}

	if (segment_attach(&srv, 0, err, sizeof(err)) < 0) {
		fprintf(stderr, "isoctl serve: %s\n", err);
		return 1;
	}
	fd = open_listener(listen_at, host, port);
	if (fd < 0) {
		segment_detach(&srv);
		return 1;
	}

	/*
	 * Block the stop signals before the daemon's thread exists so that it
	 * inherits the mask and they reach sigwait() below, and only there.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
			     on_request, &srv,
			     MHD_OPTION_LISTEN_SOCKET, fd,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "isoctl serve: cannot start the HTTP server on %s\n",
			listen_at);
		close(fd);
		segment_detach(&srv);
		return 1;
	}
	describe_socket(fd, where, sizeof(where));
	printf("isoctl serve: segment %s on http://%s/metrics\n", srv.segment,
	       where);
	fflush(stdout);

	while (sigwait(&sigs, &sig) != 0)
		;
	MHD_stop_daemon(d); /* closes the listening socket it was given */
	for (int i = 0; i < MAX_RENDERERS; i++)
		iso_metrics_free(srv.pool[i].m);
	segment_detach(&srv);
	return 0;
}
