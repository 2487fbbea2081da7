/*
 * webconfig.c - the exporter-toolkit web config file: parse it with
 * libyaml's document loader (every node keeps its line), check every key
 * and value, read the files it names, and check basic-auth passwords with
 * libxcrypt's bcrypt (webconfig.h).
 *
 * Refusal is the rule: an unknown key, a key given twice, a value of the
 * wrong kind, a certificate that does not load or does not match its key
 * each stop `isoctl serve` before it listens, with the line named, rather
 * than serving something other than what the file says.
 */
#include <crypt.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "webconfig.h"

/* A PEM file larger than this is not a certificate or a key. */
#define MAX_PEM_BYTES (1u << 20)
/* Password checks not answered from the cache: a burst, then a rate per second. */
#define BCRYPT_BURST 10.0
#define BCRYPT_PER_S 10.0

struct user {
	char *name;
	char *hash;                /* bcrypt: $2a$, $2b$ or $2y$ */
	bool remembered;           /* ok_digest holds a password that checked */
	unsigned char ok_digest[32];
};

struct webconfig {
	bool tls;
	char *cert_pem, *key_pem, *ca_pem;
	char priorities[128];
	enum webconfig_client_auth client_auth;
	struct user *users;
	size_t nusers;
	unsigned char salt[16];    /* of the remembered digests; this process only */
	double tokens;             /* bcrypt checks allowed now */
	uint64_t tokens_at_ns;
	struct crypt_data crypt;   /* crypt_rn's scratch, 32 KB: kept, not on the stack */
};

/* What a failed check needs to say where: the file, the line, the key. */
struct ctx {
	const char *path;
	char dir[4096];            /* the file's directory, for relative paths */
	yaml_document_t *doc;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, const yaml_node_t *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "PATH:LINE: message"; always returns -1. */
static int fail(struct ctx *c, const yaml_node_t *at, const char *fmt, ...)
{
	va_list ap;
	int n = at ? snprintf(c->err, c->errlen, "%s:%lu: ", c->path,
			      (unsigned long)at->start_mark.line + 1)
		   : snprintf(c->err, c->errlen, "%s: ", c->path);

	if (n < 0 || (size_t)n >= c->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

/* A plain empty scalar, ~ or null: YAML's ways to say nothing. */
static bool is_null(const yaml_node_t *n)
{
	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *s = scalar(n);
	return !*s || !strcmp(s, "~") || !strcasecmp(s, "null");
}

/* A non-empty string value of @key, or -1 naming it. */
static int want_string(struct ctx *c, const char *key, const yaml_node_t *v,
		       const char **out)
{
	if (v->type != YAML_SCALAR_NODE)
		return fail(c, v, "%s: want a string, got a %s", key,
			    v->type == YAML_MAPPING_NODE ? "mapping" : "list");
	if (is_null(v) || !*scalar(v))
		return fail(c, v, "%s: is empty", key);
	if (strlen(scalar(v)) != v->data.scalar.length)
		return fail(c, v, "%s: contains a NUL byte", key);
	*out = scalar(v);
	return 0;
}

/* A boolean value of @key (YAML 1.1 spellings), or -1 naming it. */
static int want_bool(struct ctx *c, const char *key, const yaml_node_t *v,
		     bool *out)
{
	static const char *const yes[] = { "true", "yes", "on" };
	static const char *const no[] = { "false", "no", "off" };

	if (v->type == YAML_SCALAR_NODE) {
		for (size_t i = 0; i < 3; i++) {
			if (!strcasecmp(scalar(v), yes[i])) {
				*out = true;
				return 0;
			}
			if (!strcasecmp(scalar(v), no[i])) {
				*out = false;
				return 0;
			}
		}
	}
	return fail(c, v, "%s: want true or false, got '%s'", key,
		    v->type == YAML_SCALAR_NODE ? scalar(v) : "(not a scalar)");
}

/* The pairs of a mapping node @n named @what, or -1 if it is something else. */
static int want_mapping(struct ctx *c, const char *what, const yaml_node_t *n,
			yaml_node_pair_t **start, yaml_node_pair_t **end)
{
	if (is_null(n)) {
		*start = *end = NULL;
		return 0;
	}
	if (n->type != YAML_MAPPING_NODE)
		return fail(c, n, "%s: want a mapping of keys, got %s%s%s", what,
			    n->type == YAML_SCALAR_NODE ? "'" : "a list",
			    n->type == YAML_SCALAR_NODE ? scalar(n) : "",
			    n->type == YAML_SCALAR_NODE ? "'" : "");
	*start = n->data.mapping.pairs.start;
	*end = n->data.mapping.pairs.top;
	return 0;
}

/*
 * The key of @p as a string; -1 if it is not a scalar or if an earlier pair
 * of the same mapping (from @first) has the same key: YAML's last-one-wins
 * would hide a mistake.
 */
static int pair_key(struct ctx *c, const char *where, yaml_node_pair_t *first,
		    yaml_node_pair_t *p, const char **key, yaml_node_t **kn,
		    yaml_node_t **vn)
{
	*kn = yaml_document_get_node(c->doc, p->key);
	*vn = yaml_document_get_node(c->doc, p->value);
	if (!*kn || !*vn || (*kn)->type != YAML_SCALAR_NODE)
		return fail(c, *kn, "%s: every key must be a plain string", where);
	*key = scalar(*kn);
	for (yaml_node_pair_t *q = first; q < p; q++) {
		yaml_node_t *k = yaml_document_get_node(c->doc, q->key);
		if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), *key))
			return fail(c, *kn, "%s%s%s: given twice (first on line %lu)",
				    where, *where ? "." : "", *key,
				    (unsigned long)k->start_mark.line + 1);
	}
	return 0;
}

/* Read a PEM file named by @key (relative to the config's directory). */
static int read_pem(struct ctx *c, const char *key, const yaml_node_t *at,
		    const char *name, char **out)
{
	char path[8192];
	FILE *f;

	if (name[0] == '/' || !c->dir[0])
		snprintf(path, sizeof(path), "%s", name);
	else
		snprintf(path, sizeof(path), "%s/%s", c->dir, name);
	f = fopen(path, "r");
	if (!f)
		return fail(c, at, "%s: cannot open %s: %s", key, path,
			    strerror(errno));
	char *buf = malloc(MAX_PEM_BYTES + 1);
	size_t n = buf ? fread(buf, 1, MAX_PEM_BYTES + 1, f) : 0;
	int rerr = ferror(f);
	fclose(f);
	if (!buf)
		return fail(c, at, "%s: out of memory reading %s", key, path);
	if (rerr || n == 0 || n > MAX_PEM_BYTES) {
		free(buf);
		return fail(c, at, "%s: %s is %s", key, path,
			    rerr ? "unreadable" : n == 0 ? "empty"
						 : "larger than 1 MB: not a PEM file");
	}
	buf[n] = 0;
	*out = buf;
	return 0;
}

/* "TLS10".."TLS13" to 0..3; -1 naming @key otherwise. */
static int tls_version(struct ctx *c, const char *key, const yaml_node_t *v,
		       int *out)
{
	static const char *const names[] = { "TLS10", "TLS11", "TLS12", "TLS13" };
	const char *s;

	if (want_string(c, key, v, &s) < 0)
		return -1;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(s, names[i])) {
			*out = i;
			return 0;
		}
	}
	return fail(c, v, "%s: unknown version '%s' (want TLS10, TLS11, TLS12 or TLS13)",
		    key, s);
}

static int parse_tls(struct ctx *c, struct webconfig *wc, yaml_node_t *n)
{
	yaml_node_pair_t *p0, *end;
	const char *cert = NULL, *key = NULL, *ca = NULL;
	yaml_node_t *cert_at = NULL, *key_at = NULL, *ca_at = NULL, *auth_at = NULL;
	int minv = 2, maxv = 3; /* the toolkit's default minimum is TLS 1.2 */
	yaml_node_t *kn, *v;
	const char *k;

	if (want_mapping(c, "tls_server_config", n, &p0, &end) < 0)
		return -1;
	for (yaml_node_pair_t *p = p0; p && p < end; p++) {
		if (pair_key(c, "tls_server_config", p0, p, &k, &kn, &v) < 0)
			return -1;
		if (!strcmp(k, "cert_file")) {
			if (want_string(c, "tls_server_config.cert_file", v, &cert) < 0)
				return -1;
			cert_at = v;
		} else if (!strcmp(k, "key_file")) {
			if (want_string(c, "tls_server_config.key_file", v, &key) < 0)
				return -1;
			key_at = v;
		} else if (!strcmp(k, "client_ca_file")) {
			if (want_string(c, "tls_server_config.client_ca_file", v, &ca) < 0)
				return -1;
			ca_at = v;
		} else if (!strcmp(k, "client_auth_type")) {
			const char *s;
			if (want_string(c, "tls_server_config.client_auth_type", v, &s) < 0)
				return -1;
			auth_at = v;
			if (!strcmp(s, "NoClientCert"))
				wc->client_auth = WEBCONFIG_NO_CLIENT_CERT;
			else if (!strcmp(s, "VerifyClientCertIfGiven"))
				wc->client_auth = WEBCONFIG_VERIFY_IF_GIVEN;
			else if (!strcmp(s, "RequireAndVerifyClientCert"))
				wc->client_auth = WEBCONFIG_REQUIRE_AND_VERIFY;
			else if (!strcmp(s, "RequestClientCert") ||
				 !strcmp(s, "RequireAnyClientCert"))
				return fail(c, v,
					    "tls_server_config.client_auth_type: %s is not supported by isoctl serve "
					    "(libmicrohttpd asks for a client certificate only to verify it): "
					    "use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file",
					    s);
			else
				return fail(c, v,
					    "tls_server_config.client_auth_type: unknown value '%s' (want NoClientCert, "
					    "VerifyClientCertIfGiven or RequireAndVerifyClientCert)",
					    s);
		} else if (!strcmp(k, "min_version")) {
			if (tls_version(c, "tls_server_config.min_version", v, &minv) < 0)
				return -1;
		} else if (!strcmp(k, "max_version")) {
			if (tls_version(c, "tls_server_config.max_version", v, &maxv) < 0)
				return -1;
		} else if (!strcmp(k, "prefer_server_cipher_suites")) {
			bool ignored;
			if (want_bool(c, "tls_server_config.prefer_server_cipher_suites", v, &ignored) < 0)
				return -1;
		} else if (!strcmp(k, "cipher_suites") || !strcmp(k, "curve_preferences") ||
			   !strcmp(k, "client_allowed_sans") || !strcmp(k, "cert") ||
			   !strcmp(k, "key")) {
			return fail(c, kn,
				    "tls_server_config.%s: not supported by isoctl serve (supported: cert_file, key_file, "
				    "client_auth_type, client_ca_file, min_version, max_version, prefer_server_cipher_suites)",
				    k);
		} else {
			return fail(c, kn,
				    "tls_server_config.%s: unknown key (known: cert_file, key_file, client_auth_type, "
				    "client_ca_file, min_version, max_version, prefer_server_cipher_suites)",
				    k);
		}
	}
	if (!cert)
		return fail(c, n, "tls_server_config: cert_file is missing");
	if (!key)
		return fail(c, n, "tls_server_config: key_file is missing");
	if (minv > maxv)
		return fail(c, n, "tls_server_config: min_version TLS1%d is above max_version TLS1%d",
			    minv, maxv);
	if (wc->client_auth != WEBCONFIG_NO_CLIENT_CERT && !ca)
		return fail(c, auth_at, "tls_server_config.client_auth_type: verifying client certificates needs client_ca_file");
	if (wc->client_auth == WEBCONFIG_NO_CLIENT_CERT && ca)
		return fail(c, ca_at, "tls_server_config.client_ca_file: given, but client_auth_type is NoClientCert "
				      "(set it to VerifyClientCertIfGiven or RequireAndVerifyClientCert)");

	if (read_pem(c, "tls_server_config.cert_file", cert_at, cert, &wc->cert_pem) < 0 ||
	    read_pem(c, "tls_server_config.key_file", key_at, key, &wc->key_pem) < 0)
		return -1;
	if (ca && read_pem(c, "tls_server_config.client_ca_file", ca_at, ca, &wc->ca_pem) < 0)
		return -1;

	/* Load them here, where the error can name the file, not in MHD. */
	gnutls_certificate_credentials_t cred;
	gnutls_datum_t cd = { (unsigned char *)wc->cert_pem, (unsigned)strlen(wc->cert_pem) };
	gnutls_datum_t kd = { (unsigned char *)wc->key_pem, (unsigned)strlen(wc->key_pem) };
	if (gnutls_certificate_allocate_credentials(&cred) < 0)
		return fail(c, n, "tls_server_config: out of memory");
	int rc = gnutls_certificate_set_x509_key_mem(cred, &cd, &kd, GNUTLS_X509_FMT_PEM);
	if (rc < 0) {
		gnutls_certificate_free_credentials(cred);
		return fail(c, key_at,
			    "tls_server_config: cannot load cert_file %s with key_file %s: %s",
			    cert, key, gnutls_strerror(rc));
	}
	if (wc->ca_pem) {
		gnutls_datum_t ad = { (unsigned char *)wc->ca_pem, (unsigned)strlen(wc->ca_pem) };
		rc = gnutls_certificate_set_x509_trust_mem(cred, &ad, GNUTLS_X509_FMT_PEM);
		if (rc <= 0) {
			gnutls_certificate_free_credentials(cred);
			return fail(c, ca_at, "tls_server_config.client_ca_file: %s: %s", ca,
				    rc < 0 ? gnutls_strerror(rc) : "no certificate in it");
		}
	}
	gnutls_certificate_free_credentials(cred);

	/* NORMAL, restricted to the versions asked for. */
	int off = snprintf(wc->priorities, sizeof(wc->priorities), "NORMAL:-VERS-ALL");
	for (int i = maxv; i >= minv; i--)
		off += snprintf(wc->priorities + off, sizeof(wc->priorities) - (size_t)off,
				i == 0 ? ":+VERS-TLS1.0" : ":+VERS-TLS1.%d", i);
	wc->tls = true;
	return 0;
}

static int parse_http(struct ctx *c, yaml_node_t *n)
{
	yaml_node_pair_t *p0, *end;
	yaml_node_t *kn, *v;
	const char *k;

	if (want_mapping(c, "http_server_config", n, &p0, &end) < 0)
		return -1;
	for (yaml_node_pair_t *p = p0; p && p < end; p++) {
		if (pair_key(c, "http_server_config", p0, p, &k, &kn, &v) < 0)
			return -1;
		if (!strcmp(k, "http2")) {
			bool ignored; /* the server speaks HTTP/1.1; clients fall back */
			if (want_bool(c, "http_server_config.http2", v, &ignored) < 0)
				return -1;
		} else if (!strcmp(k, "headers")) {
			return fail(c, kn, "http_server_config.headers: not supported by isoctl serve");
		} else {
			return fail(c, kn, "http_server_config.%s: unknown key (known: http2, headers)", k);
		}
	}
	return 0;
}

/* $2a$, $2b$ or $2y$, a two-digit cost, 53 characters of salt and hash. */
static bool bcrypt_shaped(const char *h)
{
	static const char b64[] =
		"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

	if (strlen(h) != 60 || h[0] != '$' || h[1] != '2' ||
	    !strchr("aby", h[2]) || h[3] != '$' || h[6] != '$')
		return false;
	if (h[4] < '0' || h[4] > '3' || h[5] < '0' || h[5] > '9')
		return false;
	int cost = (h[4] - '0') * 10 + (h[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	return strspn(h + 7, b64) == 53;
}

static int parse_users(struct ctx *c, struct webconfig *wc, yaml_node_t *n)
{
	yaml_node_pair_t *p0, *end;
	yaml_node_t *kn, *v;
	const char *k, *hash;
	char where[128];

	if (want_mapping(c, "basic_auth_users", n, &p0, &end) < 0)
		return -1;
	if (!p0)
		return 0;
	wc->users = calloc((size_t)(end - p0), sizeof(*wc->users));
	if (!wc->users)
		return fail(c, n, "basic_auth_users: out of memory");
	for (yaml_node_pair_t *p = p0; p < end; p++) {
		if (pair_key(c, "basic_auth_users", p0, p, &k, &kn, &v) < 0)
			return -1;
		snprintf(where, sizeof(where), "basic_auth_users.%.64s", k);
		if (!*k || strchr(k, ':'))
			return fail(c, kn, "basic_auth_users: user name '%s' %s", k,
				    *k ? "contains ':' (basic auth cannot carry it)" : "is empty");
		if (want_string(c, where, v, &hash) < 0)
			return -1;
		if (!bcrypt_shaped(hash) || crypt_checksalt(hash) != CRYPT_SALT_OK)
			return fail(c, v,
				    "%s: not a bcrypt hash (want $2a$, $2b$ or $2y$, a cost 04-31 and 53 more characters, "
				    "as `isoctl serve --hash-password` or `htpasswd -nbB USER PASS` makes)",
				    where);
		struct user *u = &wc->users[wc->nusers++];
		u->name = strdup(k);
		u->hash = strdup(hash);
		if (!u->name || !u->hash)
			return fail(c, v, "%s: out of memory", where);
	}
	return 0;
}

static int parse_root(struct ctx *c, struct webconfig *wc)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	yaml_node_pair_t *p0, *end;
	yaml_node_t *kn, *v;
	const char *k;

	if (!root)
		return 0; /* an empty file: no TLS, no auth, as the toolkit reads it */
	if (want_mapping(c, "the file", root, &p0, &end) < 0)
		return -1;
	for (yaml_node_pair_t *p = p0; p && p < end; p++) {
		if (pair_key(c, "", p0, p, &k, &kn, &v) < 0)
			return -1;
		int rc;
		if (!strcmp(k, "tls_server_config"))
			rc = is_null(v) ? 0 : parse_tls(c, wc, v);
		else if (!strcmp(k, "http_server_config"))
			rc = parse_http(c, v);
		else if (!strcmp(k, "basic_auth_users"))
			rc = parse_users(c, wc, v);
		else
			rc = fail(c, kn, "%s: unknown key (known: tls_server_config, http_server_config, basic_auth_users)",
				  k);
		if (rc < 0)
			return -1;
	}
	return 0;
}

int webconfig_load(const char *path, struct webconfig **out, char *err,
		   size_t errlen)
{
	struct ctx c = { .path = path, .err = err, .errlen = errlen };
	yaml_parser_t parser;
	yaml_document_t doc;
	struct webconfig *wc;
	FILE *f;
	int rc = -1;

	const char *slash = strrchr(path, '/');
	if (slash)
		snprintf(c.dir, sizeof(c.dir), "%.*s", (int)(slash - path + (slash == path)), path);
	f = fopen(path, "r");
	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	wc = calloc(1, sizeof(*wc));
	if (!wc) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%lu: not valid YAML: %s%s%s", path,
			 (unsigned long)parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "parse error",
			 parser.context ? " " : "",
			 parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		webconfig_free(wc);
		return -1;
	}
	c.doc = &doc;
	rc = parse_root(&c, wc);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	if (rc < 0) {
		webconfig_free(wc);
		return -1;
	}
	if (gnutls_rnd(GNUTLS_RND_NONCE, wc->salt, sizeof(wc->salt)) < 0) {
		snprintf(err, errlen, "%s: no random bytes for the password cache", path);
		webconfig_free(wc);
		return -1;
	}
	wc->tokens = BCRYPT_BURST;
	*out = wc;
	return 0;
}

void webconfig_free(struct webconfig *wc)
{
	if (!wc)
		return;
	for (size_t i = 0; i < wc->nusers; i++) {
		free(wc->users[i].name);
		free(wc->users[i].hash);
	}
	free(wc->users);
	free(wc->cert_pem);
	if (wc->key_pem)
		explicit_bzero(wc->key_pem, strlen(wc->key_pem));
	free(wc->key_pem);
	free(wc->ca_pem);
	explicit_bzero(wc, sizeof(*wc));
	free(wc);
}

bool webconfig_tls(const struct webconfig *wc)
{
	return wc->tls;
}

const char *webconfig_cert_pem(const struct webconfig *wc)
{
	return wc->cert_pem;
}

const char *webconfig_key_pem(const struct webconfig *wc)
{
	return wc->key_pem;
}

const char *webconfig_client_ca_pem(const struct webconfig *wc)
{
	return wc->ca_pem;
}

const char *webconfig_priorities(const struct webconfig *wc)
{
	return wc->tls ? wc->priorities : NULL;
}

enum webconfig_client_auth webconfig_client_auth(const struct webconfig *wc)
{
	return wc->client_auth;
}

size_t webconfig_users(const struct webconfig *wc)
{
	return wc->nusers;
}

/* Equal strings, in a time that depends on their lengths only. */
static bool same(const void *a, size_t alen, const void *b, size_t blen)
{
	const unsigned char *x = a, *y = b;
	unsigned char d = alen != blen;
	size_t n = alen < blen ? alen : blen;

	for (size_t i = 0; i < n; i++)
		d |= x[i] ^ y[i];
	return d == 0;
}

/* SHA-256 of the process salt and @password: what the cache keeps. */
static bool digest(const struct webconfig *wc, const char *password,
		   unsigned char out[32])
{
	gnutls_hash_hd_t h;

	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return false;
	gnutls_hash(h, wc->salt, sizeof(wc->salt));
	gnutls_hash(h, password, strlen(password));
	gnutls_hash_deinit(h, out);
	return true;
}

/* Take one bcrypt check from the bucket; false if it is empty. */
static bool take_token(struct webconfig *wc, uint64_t now_ns)
{
	if (now_ns > wc->tokens_at_ns) {
		wc->tokens += (double)(now_ns - wc->tokens_at_ns) * 1e-9 * BCRYPT_PER_S;
		if (wc->tokens > BCRYPT_BURST)
			wc->tokens = BCRYPT_BURST;
	}
	wc->tokens_at_ns = now_ns;
	if (wc->tokens < 1.0)
		return false;
	wc->tokens -= 1.0;
	return true;
}

enum webconfig_auth webconfig_check_password(struct webconfig *wc,
					     const char *user,
					     const char *password,
					     uint64_t now_ns)
{
	struct user *u = NULL;
	unsigned char d[32];

	if (!user || !password || wc->nusers == 0)
		return WEBCONFIG_AUTH_DENIED;
	for (size_t i = 0; i < wc->nusers; i++)
		if (!strcmp(wc->users[i].name, user))
			u = &wc->users[i];
	bool have_digest = digest(wc, password, d);
	if (u && u->remembered && have_digest &&
	    same(d, sizeof(d), u->ok_digest, sizeof(u->ok_digest)))
		return WEBCONFIG_AUTH_OK;
	if (!take_token(wc, now_ns))
		return WEBCONFIG_AUTH_THROTTLED;
	/* An unknown user costs a bcrypt too, so timing does not tell users apart. */
	const char *hash = u ? u->hash : wc->users[0].hash;
	memset(&wc->crypt, 0, sizeof(wc->crypt));
	const char *got = crypt_rn(password, hash, &wc->crypt, sizeof(wc->crypt));
	bool ok = u && got && same(got, strlen(got), hash, strlen(hash));
	if (!ok)
		return WEBCONFIG_AUTH_DENIED;
	if (have_digest) {
		memcpy(u->ok_digest, d, sizeof(d));
		u->remembered = true;
	}
	return WEBCONFIG_AUTH_OK;
}

int webconfig_hash_password(const char *password, unsigned cost, char *out,
			    size_t outlen)
{
	char salt[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;

	if (!cd) {
		snprintf(out, outlen, "out of memory");
		return -1;
	}
	/* NULL random bytes: libxcrypt takes them from the kernel. */
	if (!crypt_gensalt_rn("$2y$", cost, NULL, 0, salt, sizeof(salt))) {
		snprintf(out, outlen, "cannot make a bcrypt salt of cost %u: %s",
			 cost, strerror(errno));
		free(cd);
		return -1;
	}
	h = crypt_rn(password, salt, cd, sizeof(*cd));
	if (!h || h[0] != '$') {
		snprintf(out, outlen, "bcrypt failed: %s", strerror(errno));
		free(cd);
		return -1;
	}
	snprintf(out, outlen, "%s", h);
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return 0;
}
