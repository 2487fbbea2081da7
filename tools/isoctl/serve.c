/*
 * serve.c - `isoctl serve`: the registry over HTTP for Prometheus [T3].
 *
 * Owns the listening socket, the libmicrohttpd daemon, the read-only
 * attachment and the connections; the metric text is made by metrics.c,
 * compressed by snapshot.c, and TLS and basic auth come from webconfig.c.
 *
 * The exporter conventions it keeps: it starts whether or not the segment
 * exists, and every scrape answers 200 - `isoreg_up 1` and the registry
 * while a valid segment is attached, `isoreg_up 0` and no account series
 * while it is missing, damaged or unreadable (segment_valid() is the one
 * place that decides). Prometheus' own `up` then means "the exporter
 * answers", and isoreg_up "the registry is there".
 *
 * Threads: one. The main thread runs libmicrohttpd's event loop itself
 * (external epoll mode, MHD_run_wait) and every callback, the renderer,
 * the compressor and the connection list are only ever touched by it, so
 * nothing here takes a lock. A scrape reads the segment through a
 * read-only mapping with the library's wait-free readers: it can never
 * hold up a writer.
 *
 * Abuse: a scrape renders and compresses the whole text before it sends a
 * byte, into a snapshot that its response owns (snapshot.h), so a client
 * that reads slowly or never holds only its own compressed copy, never the
 * renderer, and never delays anyone else's scrape. Connections are capped
 * in all and per client address, and every connection must send its
 * request, and take its response, within --web.timeout: the loop closes
 * any that overrun (sweep()), slowloris or not. Memory is bounded by
 * (connections x one compressed scrape) + one renderer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <limits.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "isoreg.h"
#include "metrics.h"
#include "serve.h"
#include "snapshot.h"
#include "webconfig.h"
#include "../common/busguard.h"
#include "../common/cli.h"
#include "../common/clock.h"

#define DEFAULT_LISTEN "127.0.0.1:9464"
#define SHM_DIR "/dev/shm/" /* where glibc's shm_open keeps its objects */

/* How long a scrape may wait for a creator to finish a new segment. */
#define SCRAPE_ATTACH_TIMEOUT_MS 200u

#define DEFAULT_TIMEOUT_S 15u
#define DEFAULT_MAX_CONNECTIONS 64u
#define DEFAULT_MAX_PER_IP 8u
#define READ_BLOCK (64u * 1024)
/* The loop wakes at least this often to close overrunning connections. */
#define SWEEP_MS 250

/* One TCP connection, from libmicrohttpd's start notice to its close notice. */
struct conn {
	struct conn *prev, *next;
	int fd;
	uint64_t deadline_ns; /* the current request or response must be done by then */
};

struct server {
	const char *segment;     /* as given: "/isoreg" */
	char shm_path[sizeof(SHM_DIR) + NAME_MAX]; /* "/dev/shm/isoreg" */
	iso_reg_t *reg;          /* NULL while there is no valid segment */
	dev_t dev;               /* identity of the object attached */
	ino_t ino;
	bool attached_before;    /* so a later attach counts as a re-attach */
	char why[1024];          /* while reg is NULL: the reason, for /healthz and / */

	struct iso_metrics_opts opts;
	struct iso_metrics *m;
	struct iso_gzip *gz;
	struct iso_metrics_self self;

	struct webconfig *web;   /* NULL: plain HTTP, no auth */
	unsigned timeout_s;
	unsigned max_connections;
	unsigned max_per_ip;
	struct conn conns;       /* list head of the open connections */
	uint64_t log_window_ns;  /* log_http's rate limit: the minute's start, */
	unsigned log_shown;      /* the messages shown in it, */
	unsigned log_dropped;    /* and those left out */
};

static volatile sig_atomic_t stop_signal;

static void usage(FILE *out)
{
	fprintf(out,
		"usage: isoctl serve [--listen ADDR:PORT] [--segment NAME] [OPTIONS]\n"
		"\n"
		"Serve the registry's metrics for Prometheus, attached read-only. It starts\n"
		"whether or not the segment exists yet; /metrics says isoreg_up 0 until it does.\n"
		"  GET /         a page with links and the segment's state\n"
		"  GET /metrics  text exposition format 0.0.4, gzip if the client accepts it\n"
		"  GET /healthz  200 while the segment is attached, else 503 with the reason\n"
		"\n"
		"  -l, --listen ADDR:PORT     address to listen on (default %s;\n"
		"      --web.listen-address   [::1]:PORT for IPv6, port 0 picks one)\n"
		"  -s, --segment NAME         segment (default $ISOREG_SEGMENT or %s)\n"
		"  -o, --owner USER|UID       trust a segment of that owner (default\n"
		"                             $ISOREG_OWNER, else your own uid)\n"
		"\n"
		"Series budget (default: 12 series per account, histograms per broker):\n"
		"      --accounts WHICH       accounts with series of their own: all (default),\n"
		"                             unhealthy (only those not HEALTHY now), none\n"
		"      --account-detail       add breaker state, successes, streaks, probes,\n"
		"                             back-off step, timestamps and EMA per account\n"
		"      --account-histograms   add the operation-time histogram per account\n"
		"      --full                 both of the above\n"
		"\n"
		"Security and limits:\n"
		"      --web.config.file FILE TLS and basic auth, as the Prometheus exporter\n"
		"                             toolkit's file (tls_server_config, basic_auth_users)\n"
		"      --web.timeout SECONDS  a request must arrive, and its response be taken,\n"
		"                             within this; idle connections close after it (default %u)\n"
		"      --web.max-connections N       open connections in all (default %u)\n"
		"      --web.max-connections-per-ip N  from one client address (default %u)\n"
		"      --hash-password        read a password on stdin, print its bcrypt hash\n"
		"                             for basic_auth_users, and exit\n"
		"  -h, --help                 this text\n",
		DEFAULT_LISTEN, ISO_DEFAULT_SEGMENT, DEFAULT_TIMEOUT_S,
		DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_PER_IP);
}

/* --------------------------------------------------------- the segment */

static const char *attach_detail(int rc)
{
	const char *d = iso_last_error();

	return d && *d ? d : iso_strerror(rc);
}

/* What a library error says about the segment, for isoreg_exporter_scrape_errors_total. */
static enum iso_metrics_error classify(int rc)
{
	switch (rc) {
	case ISO_ENOENT:
	case ISO_EBUSY: /* still being created: not there yet */
		return ISO_METRICS_ERR_MISSING;
	case ISO_ECORRUPT:
	case ISO_EVERSION:
	case ISO_ESTALE:
		return ISO_METRICS_ERR_DAMAGED;
	default:
		return ISO_METRICS_ERR_UNREADABLE;
	}
}

/*
 * Attach @srv->segment read-only and remember which shm object it is. The
 * object is stat'ed before and after the attach: if they differ, the
 * segment was replaced in between and the attach is tried again, so the
 * identity kept is always the one of the mapping. Returns 0, or -1 with
 * *@why and srv->why saying what is wrong.
 */
static int segment_attach(struct server *srv, uint32_t timeout_ms,
			  enum iso_metrics_error *why)
{
	struct iso_attach_opts opts = {
		.flags = ISO_ATTACH_RDONLY,
		.attach_timeout_ms = timeout_ms,
	};

	/* Whom to trust, as every tool: ISOREG_OWNER / --owner [R7]. */
	if (cli_trust_opts("isoctl serve", &opts) < 0) {
		*why = ISO_METRICS_ERR_UNREADABLE;
		snprintf(srv->why, sizeof(srv->why),
			 "segment %s: bad ISOREG_OWNER or ISOREG_MODE (see stderr)",
			 srv->segment);
		return -1;
	}
	for (int attempt = 0; attempt < 3; attempt++) {
		struct stat before, after;
		iso_reg_t *reg;
		int rc;

		if (stat(srv->shm_path, &before) < 0) {
			*why = errno == ENOENT ? ISO_METRICS_ERR_MISSING
					       : ISO_METRICS_ERR_UNREADABLE;
			if (errno == ENOENT)
				snprintf(srv->why, sizeof(srv->why),
					 "segment %s does not exist (no %s)",
					 srv->segment, srv->shm_path);
			else
				snprintf(srv->why, sizeof(srv->why),
					 "segment %s: %s: %s", srv->segment,
					 srv->shm_path, strerror(errno));
			return -1;
		}
		rc = iso_attach(srv->segment, &opts, &reg);
		if (rc < 0) {
			*why = classify(rc);
			snprintf(srv->why, sizeof(srv->why),
				 "cannot attach segment %s: %s", srv->segment,
				 attach_detail(rc));
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
			srv->why[0] = 0;
			return 0;
		}
		iso_detach(reg);
	}
	*why = ISO_METRICS_ERR_MISSING;
	snprintf(srv->why, sizeof(srv->why),
		 "segment %s keeps being replaced; try again", srv->segment);
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
 * segment_valid - is there a valid segment to read right now? The one
 * place that decides: every scrape, /healthz and / ask it, and whatever it
 * refuses is answered as `isoreg_up 0`, never as an HTTP error.
 *
 * It makes sure the attachment is the segment that carries the name now:
 * an unlinked segment is dropped (no new trader can attach it; what
 * matters is whatever takes the name next), a recreated one is attached
 * afresh, a missing one is attached once it appears, and one that shrank
 * or was overwritten under us (iso_segment_check: ISO_ECORRUPT) is dropped
 * before its mapping is read again [R7] and answered "damaged" until a
 * valid segment carries the name. A shrink during the render itself is
 * caught by the SIGBUS guard in serve_metrics(). Snapshots hold text, not
 * pointers into the mapping, so a response still being sent survives the
 * detach.
 *
 * Returns 0 with srv->reg attached, or -1 with *@why and srv->why set.
 */
static int segment_valid(struct server *srv, enum iso_metrics_error *why)
{
	struct stat st;

	if (stat(srv->shm_path, &st) < 0) {
		segment_detach(srv);
		*why = errno == ENOENT ? ISO_METRICS_ERR_MISSING
				       : ISO_METRICS_ERR_UNREADABLE;
		if (errno == ENOENT)
			snprintf(srv->why, sizeof(srv->why),
				 srv->attached_before
					 ? "segment %s is gone (unlinked); waiting for it to be recreated"
					 : "segment %s does not exist yet; waiting for it to be created",
				 srv->segment);
		else
			snprintf(srv->why, sizeof(srv->why), "segment %s: %s: %s",
				 srv->segment, srv->shm_path, strerror(errno));
		return -1;
	}
	if (srv->reg && st.st_dev == srv->dev && st.st_ino == srv->ino) {
		char damage[600];
		int rc = iso_segment_check(srv->reg);

		if (rc == 0)
			return 0;
		snprintf(damage, sizeof(damage), "%s", attach_detail(rc));
		segment_detach(srv);
		/* The same object, damaged: attaching it again is refused
		 * until someone puts a valid segment at the name. */
		if (segment_attach(srv, SCRAPE_ATTACH_TIMEOUT_MS, why) == 0)
			return 0;
		if (rc == ISO_ECORRUPT) {
			*why = ISO_METRICS_ERR_DAMAGED;
			snprintf(srv->why, sizeof(srv->why),
				 "segment %s is damaged (%s); waiting for a valid one",
				 srv->segment, damage);
		}
		return -1;
	}
	segment_detach(srv);
	return segment_attach(srv, SCRAPE_ATTACH_TIMEOUT_MS, why);
}

/* iso_metrics_render as a pass for the SIGBUS guard. */
static int render_pass(void *arg)
{
	struct server *srv = arg;

	return iso_metrics_render(srv->m, srv->reg, &srv->self);
}

/* ------------------------------------------------------------- HTTP */

/* A short reply of @type; @body is copied. */
static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status,
			     const char *type, const char *body, size_t len)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"isoreg\", charset=\"UTF-8\"");
	if (status == MHD_HTTP_TOO_MANY_REQUESTS)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
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
	return reply(conn, status, "text/plain; charset=utf-8", msg, (size_t)n);
}

/* A /metrics response's body, and what it costs, for the exporter's own gauges. */
struct response {
	struct server *srv;
	struct iso_body *body;
	size_t bytes;
};

/* MHD asks for the body in blocks, in order. */
static ssize_t read_body(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct response *r = cls;
	ssize_t n = iso_body_read(r->body, (size_t)pos, buf, max);

	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	return n ? n : MHD_CONTENT_READER_END_OF_STREAM;
}

/* The response is gone (sent or dropped): its snapshot goes too. */
static void free_body(void *cls)
{
	struct response *r = cls;

	r->srv->self.responses--;
	r->srv->self.response_bytes -= r->bytes;
	iso_body_free(r->body);
	free(r);
}

/*
 * Does the request's Accept-Encoding take gzip? A "gzip" or "*" token
 * without q=0 (RFC 9110 12.5.3); "gzip;q=0" refuses it whatever "*" says.
 */
static bool accepts_gzip(struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_ACCEPT_ENCODING);
	bool star = false;

	while (h && *h) {
		size_t len = strcspn(h, ",");
		const char *tok = h, *semi;
		size_t nlen;

		while (*tok == ' ' || *tok == '\t')
			tok++;
		semi = memchr(tok, ';', (size_t)(h + len - tok));
		nlen = (size_t)((semi ? semi : h + len) - tok);
		while (nlen && (tok[nlen - 1] == ' ' || tok[nlen - 1] == '\t'))
			nlen--;
		bool zero = false;
		if (semi) {
			const char *q = semi + 1;
			while (*q == ' ' || *q == '\t')
				q++;
			if ((q[0] == 'q' || q[0] == 'Q') && q[1] == '=')
				zero = strtod(q + 2, NULL) <= 0.0;
		}
		if ((nlen == 4 && !strncasecmp(tok, "gzip", 4)) ||
		    (nlen == 6 && !strncasecmp(tok, "x-gzip", 6)))
			return !zero;
		if (nlen == 1 && *tok == '*')
			star = !zero;
		h += len;
		if (*h == ',')
			h++;
	}
	return star;
}

static enum MHD_Result serve_metrics(struct server *srv,
				     struct MHD_Connection *conn)
{
	enum iso_metrics_error why;
	struct iso_snapshot *snap;
	struct iso_body *body;
	struct MHD_Response *resp;
	enum MHD_Result ret;
	int rc;

	srv->self.scrapes++;
	srv->self.scrape_start_ns = tc_mono_ns();
	if (segment_valid(srv, &why) == 0) {
		rc = tool_bus_guard(render_pass, srv);
		if (rc == TOOL_BUS_FAULT) {
			/* Shrunk during the render: the text is garbage, the
			 * mapping unreadable. Drop it; a later scrape attaches
			 * a valid one. */
			why = ISO_METRICS_ERR_DAMAGED;
			snprintf(srv->why, sizeof(srv->why),
				 "segment %s damaged: it shrank while being read (SIGBUS caught); "
				 "waiting for a valid one",
				 srv->segment);
			segment_detach(srv);
		} else if (rc < 0 && rc != ISO_ENOMEM) {
			/* Failed mid-read: the segment is not what it claimed. */
			why = classify(rc);
			snprintf(srv->why, sizeof(srv->why),
				 "cannot read segment %s: %s", srv->segment,
				 attach_detail(rc));
			segment_detach(srv);
		}
	} else {
		rc = 1;
	}
	if (rc > 0 || (rc < 0 && rc != ISO_ENOMEM)) {
		srv->self.errors[why]++;
		rc = iso_metrics_render(srv->m, NULL, &srv->self);
	}
	if (rc == 0)
		rc = iso_snapshot_make(srv->gz, srv->m, &snap);
	if (rc < 0)
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory rendering the metrics\n");

	bool gzip = accepts_gzip(conn);
	body = iso_body_new(snap, gzip);
	iso_snapshot_unref(snap); /* the body holds it now */
	struct response *rs = body ? malloc(sizeof(*rs)) : NULL;
	if (!rs) {
		iso_body_free(body);
		return reply_text(conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "out of memory\n");
	}
	*rs = (struct response){ srv, body, iso_body_bytes(body) };
	srv->self.responses++;
	srv->self.response_bytes += rs->bytes;
	resp = MHD_create_response_from_callback(iso_body_len(body), READ_BLOCK,
						 read_body, rs, free_body);
	if (!resp) {
		free_body(rs);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				ISO_METRICS_CONTENT_TYPE);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY,
				MHD_HTTP_HEADER_ACCEPT_ENCODING);
	if (gzip)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING,
					"gzip");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp); /* freed, with its body, once sent or dropped */
	return ret;
}

static enum MHD_Result serve_health(struct server *srv,
				    struct MHD_Connection *conn)
{
	enum iso_metrics_error why;

	if (segment_valid(srv, &why) < 0)
		return reply_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "%s\n",
				  srv->why);
	return reply_text(conn, MHD_HTTP_OK, "ok: segment %s attached\n",
			  srv->segment);
}

/* Append @s to @out (of @cap bytes, at *@len), HTML-escaped if @escape. */
static void page_add(char *out, size_t cap, size_t *len, const char *s,
		     bool escape)
{
	for (; *s && *len + 7 < cap; s++) {
		const char *e = !escape ? NULL
			      : *s == '&' ? "&amp;" : *s == '<' ? "&lt;"
			      : *s == '>' ? "&gt;" : *s == '"' ? "&quot;" : NULL;
		if (e) {
			size_t n = strlen(e);
			memcpy(out + *len, e, n);
			*len += n;
		} else {
			out[(*len)++] = *s;
		}
	}
	out[*len] = 0;
}

/* The landing page, as exporters have one: what this is and where to go. */
static enum MHD_Result serve_landing(struct server *srv,
				     struct MHD_Connection *conn)
{
	enum iso_metrics_error why;
	char page[4096];
	size_t len = 0;
	bool up = segment_valid(srv, &why) == 0;

	page_add(page, sizeof(page), &len,
		 "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>isoreg exporter</title></head>\n"
		 "<body><h1>isoreg exporter</h1>\n<p>Version " ISO_METRICS_VERSION
		 ", segment <code>", false);
	page_add(page, sizeof(page), &len, srv->segment, true);
	page_add(page, sizeof(page), &len, "</code>: ", false);
	if (up) {
		page_add(page, sizeof(page), &len, "attached (isoreg_up 1)", false);
	} else {
		page_add(page, sizeof(page), &len, "not attached (isoreg_up 0): ", false);
		page_add(page, sizeof(page), &len, srv->why, true);
	}
	page_add(page, sizeof(page), &len,
		 "</p>\n<ul><li><a href=\"/metrics\">/metrics</a>: the metrics</li>\n"
		 "<li><a href=\"/healthz\">/healthz</a>: 200 while the segment is attached</li></ul>\n"
		 "</body></html>\n", false);
	return reply(conn, MHD_HTTP_OK, "text/html; charset=utf-8", page, len);
}

/*
 * The client's certificate, as tls_server_config.client_auth_type asks.
 * Returns true if it may go on; false after queueing the refusal (in
 * *@ret).
 */
static bool client_cert_ok(struct server *srv, struct MHD_Connection *conn,
			   enum MHD_Result *ret)
{
	enum webconfig_client_auth need = webconfig_client_auth(srv->web);
	const union MHD_ConnectionInfo *ci;
	unsigned int status = 0;
	unsigned int npeers = 0;

	if (need == WEBCONFIG_NO_CLIENT_CERT)
		return true;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	gnutls_session_t session = ci ? (gnutls_session_t)ci->tls_session : NULL;
	if (session)
		gnutls_certificate_get_peers(session, &npeers);
	if (npeers == 0 && need == WEBCONFIG_VERIFY_IF_GIVEN)
		return true;
	if (npeers == 0) {
		*ret = reply_text(conn, MHD_HTTP_FORBIDDEN,
				  "a client certificate is required\n");
		return false;
	}
	if (gnutls_certificate_verify_peers2(session, &status) < 0 || status != 0) {
		*ret = reply_text(conn, MHD_HTTP_FORBIDDEN,
				  "the client certificate does not verify against client_ca_file\n");
		return false;
	}
	return true;
}

/* Basic auth, when the web config has users. */
static bool password_ok(struct server *srv, struct MHD_Connection *conn,
			enum MHD_Result *ret)
{
	char *pass = NULL;
	char *user;
	enum webconfig_auth a;

	if (webconfig_users(srv->web) == 0)
		return true;
	user = MHD_basic_auth_get_username_password(conn, &pass);
	a = webconfig_check_password(srv->web, user, pass, tc_mono_ns());
	if (pass) {
		explicit_bzero(pass, strlen(pass));
		MHD_free(pass);
	}
	if (user)
		MHD_free(user);
	if (a == WEBCONFIG_AUTH_OK)
		return true;
	if (a == WEBCONFIG_AUTH_THROTTLED)
		*ret = reply_text(conn, MHD_HTTP_TOO_MANY_REQUESTS,
				  "too many password checks; try again in a second\n");
	else
		*ret = reply_text(conn, MHD_HTTP_UNAUTHORIZED, "unauthorized\n");
	return false;
}

static struct conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload_data,
				  size_t *upload_data_size, void **con_cls)
{
	struct server *srv = cls;
	struct conn *c = conn_of(conn);
	enum MHD_Result ret;

	/* The headers are in: now the response has --web.timeout to go. */
	if (c)
		c->deadline_ns = tc_mono_ns() + (uint64_t)srv->timeout_s * 1000000000u;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
	    strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return reply_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED,
				  "method %s not allowed; use GET\n", method);
	if (srv->web && (!client_cert_ok(srv, conn, &ret) ||
			 !password_ok(srv, conn, &ret)))
		return ret;
	if (strcmp(url, "/metrics") == 0)
		return serve_metrics(srv, conn);
	if (strcmp(url, "/healthz") == 0)
		return serve_health(srv, conn);
	if (strcmp(url, "/") == 0)
		return serve_landing(srv, conn);
	return reply_text(conn, MHD_HTTP_NOT_FOUND,
			  "not found: %s (try /, /metrics or /healthz)\n", url);
}

/* ---------------------------------------------------------- connections */

/* libmicrohttpd opened or closed a connection: keep the list of them. */
static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct server *srv = cls;
	struct conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = calloc(1, sizeof(*c));
		if (!c)
			return; /* untracked: MHD's idle timeout still closes it */
		c->fd = ci ? ci->connect_fd : -1;
		c->deadline_ns = tc_mono_ns() + (uint64_t)srv->timeout_s * 1000000000u;
		c->next = srv->conns.next;
		c->prev = &srv->conns;
		srv->conns.next->prev = c;
		srv->conns.next = c;
		*socket_context = c;
	} else if (c) {
		c->prev->next = c->next;
		c->next->prev = c->prev;
		free(c);
		*socket_context = NULL;
	}
}

/* A request is done: the next one on this connection gets a fresh deadline. */
static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct server *srv = cls;
	struct conn *c = conn_of(conn);

	if (c)
		c->deadline_ns = tc_mono_ns() + (uint64_t)srv->timeout_s * 1000000000u;
}

/*
 * Close every connection past its deadline: one that trickles its request
 * (slowloris) or takes its response too slowly, which MHD's idle timeout
 * alone lets live as long as a byte moves now and then. shutdown() and not
 * close(): the descriptor stays MHD's, which sees the end of the stream on
 * its next pass and releases the connection and its snapshot itself. Runs
 * on the loop's thread, the only one that touches the list, so a
 * descriptor here is still the connection's.
 */
static void sweep(struct server *srv)
{
	uint64_t now = tc_mono_ns();

	for (struct conn *c = srv->conns.next; c != &srv->conns; c = c->next) {
		if (c->fd >= 0 && now > c->deadline_ns) {
			shutdown(c->fd, SHUT_RDWR);
			c->deadline_ns = UINT64_MAX;
			srv->self.connections_cut++;
		}
	}
}

/*
 * libmicrohttpd's own messages (a refused connection, a failed TLS
 * handshake) on stderr, at most 10 a minute: under a flood of connections
 * a line per refusal would become a flood of its own.
 */
static void log_http(void *cls, const char *fmt, va_list ap)
{
	struct server *srv = cls;
	uint64_t now = tc_mono_ns();

	if (now - srv->log_window_ns > 60ull * 1000000000u) {
		if (srv->log_dropped)
			fprintf(stderr, "isoctl serve: http: %u more messages in the last minute not shown\n",
				srv->log_dropped);
		srv->log_window_ns = now;
		srv->log_shown = srv->log_dropped = 0;
	}
	if (srv->log_shown >= 10) {
		srv->log_dropped++;
		return;
	}
	srv->log_shown++;
	fputs("isoctl serve: http: ", stderr);
	vfprintf(stderr, fmt, ap);
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
		    listen(fd, 128) == 0)
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

/* A whole number in [@lo, @hi] for option @opt, or -1 with a message. */
static long parse_count(const char *opt, const char *s, long lo, long hi)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr,
			"isoctl serve: bad %s '%s': want a whole number from %ld to %ld\n",
			opt, s, lo, hi);
		return -1;
	}
	return v;
}

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

enum {
	OPT_ACCOUNTS = 256,
	OPT_DETAIL,
	OPT_HISTOGRAMS,
	OPT_FULL,
	OPT_WEB_CONFIG,
	OPT_TIMEOUT,
	OPT_MAX_CONN,
	OPT_MAX_PER_IP,
	OPT_HASH,
};

/* --hash-password: one line of stdin (its newline cut) to a bcrypt hash on stdout. */
static int hash_password(void)
{
	char line[1024], out[256];

	if (!fgets(line, sizeof(line), stdin)) {
		fprintf(stderr, "isoctl serve: --hash-password: no password on stdin\n");
		return 2;
	}
	line[strcspn(line, "\r\n")] = 0;
	if (!line[0]) {
		fprintf(stderr, "isoctl serve: --hash-password: the password is empty\n");
		return 2;
	}
	int rc = webconfig_hash_password(line, 10, out, sizeof(out));
	explicit_bzero(line, sizeof(line));
	if (rc < 0) {
		fprintf(stderr, "isoctl serve: --hash-password: %s\n", out);
		return 1;
	}
	printf("%s\n", out);
	return 0;
}

int isoctl_serve(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "web.listen-address", required_argument, NULL, 'l' },
		{ "segment", required_argument, NULL, 's' },
		{ "owner", required_argument, NULL, 'o' },
		{ "accounts", required_argument, NULL, OPT_ACCOUNTS },
		{ "account-detail", no_argument, NULL, OPT_DETAIL },
		{ "account-histograms", no_argument, NULL, OPT_HISTOGRAMS },
		{ "full", no_argument, NULL, OPT_FULL },
		{ "web.config.file", required_argument, NULL, OPT_WEB_CONFIG },
		{ "web.timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "web.max-connections", required_argument, NULL, OPT_MAX_CONN },
		{ "web.max-connections-per-ip", required_argument, NULL, OPT_MAX_PER_IP },
		{ "hash-password", no_argument, NULL, OPT_HASH },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct server srv = {
		.timeout_s = DEFAULT_TIMEOUT_S,
		.max_connections = DEFAULT_MAX_CONNECTIONS,
		.max_per_ip = DEFAULT_MAX_PER_IP,
	};
	const char *listen_at = DEFAULT_LISTEN, *web_config = NULL;
	char err[2048], where[300], host[256], port[8];
	struct MHD_Daemon *d;
	enum iso_metrics_error why;
	int c, fd, rc = 1;
	long v;

	srv.conns.next = srv.conns.prev = &srv.conns;
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
		case OPT_ACCOUNTS:
			if (!strcmp(optarg, "all"))
				srv.opts.accounts = ISO_METRICS_ACCOUNTS_ALL;
			else if (!strcmp(optarg, "unhealthy"))
				srv.opts.accounts = ISO_METRICS_ACCOUNTS_UNHEALTHY;
			else if (!strcmp(optarg, "none"))
				srv.opts.accounts = ISO_METRICS_ACCOUNTS_NONE;
			else {
				fprintf(stderr,
					"isoctl serve: bad --accounts '%s': want all, unhealthy or none\n",
					optarg);
				return 2;
			}
			break;
		case OPT_DETAIL: srv.opts.account_detail = true; break;
		case OPT_HISTOGRAMS: srv.opts.account_histograms = true; break;
		case OPT_FULL:
			srv.opts.account_detail = true;
			srv.opts.account_histograms = true;
			break;
		case OPT_WEB_CONFIG: web_config = optarg; break;
		case OPT_TIMEOUT:
			if ((v = parse_count("--web.timeout", optarg, 1, 3600)) < 0)
				return 2;
			srv.timeout_s = (unsigned)v;
			break;
		case OPT_MAX_CONN:
			if ((v = parse_count("--web.max-connections", optarg, 1, 100000)) < 0)
				return 2;
			srv.max_connections = (unsigned)v;
			break;
		case OPT_MAX_PER_IP:
			if ((v = parse_count("--web.max-connections-per-ip", optarg, 1, 100000)) < 0)
				return 2;
			srv.max_per_ip = (unsigned)v;
			break;
		case OPT_HASH: return hash_password();
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
	if (web_config && webconfig_load(web_config, &srv.web, err, sizeof(err)) < 0) {
		fprintf(stderr, "isoctl serve: --web.config.file %s\n", err);
		return 2;
	}
	srv.m = iso_metrics_new(&srv.opts);
	srv.gz = iso_gzip_new(1);
	if (!srv.m || !srv.gz) {
		fprintf(stderr, "isoctl serve: out of memory\n");
		goto out;
	}

	/* No segment yet is no reason not to start: scrapes say isoreg_up 0. */
	if (segment_attach(&srv, 0, &why) < 0)
		fprintf(stderr, "isoctl serve: %s; serving isoreg_up 0 until it is there\n",
			srv.why);
	fd = open_listener(listen_at, host, port);
	if (fd < 0)
		goto out;

	struct sigaction sa = { .sa_handler = on_stop_signal };
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: the signal ends the loop's wait at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	struct MHD_OptionItem ops[16];
	srv.log_window_ns = tc_mono_ns();
	int n = 0;
	unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	/* The logger first, or MHD's own messages before it go to stderr raw. */
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)log_http, &srv };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT, srv.timeout_s, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, srv.max_connections, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_PER_IP_CONNECTION_LIMIT, srv.max_per_ip, NULL };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)on_connection, &srv };
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)on_completed, &srv };
	if (srv.web && webconfig_tls(srv.web)) {
		flags |= MHD_USE_TLS;
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)webconfig_cert_pem(srv.web) };
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)webconfig_key_pem(srv.web) };
		ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)webconfig_priorities(srv.web) };
		if (webconfig_client_ca_pem(srv.web))
			ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_TRUST, 0,
							    (void *)webconfig_client_ca_pem(srv.web) };
	}
	ops[n++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv,
			     MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "isoctl serve: cannot start the HTTP%s server on %s\n",
			srv.web && webconfig_tls(srv.web) ? "S" : "", listen_at);
		close(fd);
		goto out;
	}
	describe_socket(fd, where, sizeof(where));
	printf("isoctl serve: segment %s on %s://%s/metrics\n", srv.segment,
	       srv.web && webconfig_tls(srv.web) ? "https" : "http", where);
	fflush(stdout);

	while (!stop_signal) {
		if (MHD_run_wait(d, SWEEP_MS) != MHD_YES && !stop_signal) {
			fprintf(stderr, "isoctl serve: the HTTP server failed: %s\n",
				strerror(errno));
			break;
		}
		sweep(&srv);
	}
	rc = stop_signal ? 0 : 1;
	MHD_stop_daemon(d); /* closes the listening socket it was given */
out:
	iso_metrics_free(srv.m);
	iso_gzip_free(srv.gz);
	webconfig_free(srv.web);
	segment_detach(&srv);
	return rc;
}
