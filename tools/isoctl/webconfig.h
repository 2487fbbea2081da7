/*
 * webconfig.h - `isoctl serve --web.config.file`: TLS and basic auth in the
 * Prometheus exporter-toolkit's file format.
 *
 * The same YAML keys as the toolkit (docs/web-configuration.md there):
 *
 *   tls_server_config:
 *     cert_file: server.crt          # paths relative to this file
 *     key_file: server.key
 *     client_auth_type: RequireAndVerifyClientCert   # optional
 *     client_ca_file: clients-ca.crt                 # with a verify type
 *     min_version: TLS12             # optional: TLS10..TLS13
 *     max_version: TLS13
 *   http_server_config:
 *     http2: true                    # accepted; the server speaks HTTP/1.1
 *   basic_auth_users:
 *     prometheus: $2y$10$...         # bcrypt hashes
 *
 * Anything else is refused with the file, the line and the key named, as
 * the toolkit refuses unknown keys. Passwords are checked with libxcrypt's
 * bcrypt; a password that checked once is remembered as a salted SHA-256
 * so that a scrape every 15 s does not cost a bcrypt each, and password
 * checks that are not remembered are limited to 10 a second, so a flood of
 * wrong passwords cannot eat the CPU the scrapes need.
 *
 * Threads: a webconfig is read-only after loading except for that cache
 * and limit, which belong to the one thread that serves requests.
 */
#ifndef ISOCTL_WEBCONFIG_H
#define ISOCTL_WEBCONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct webconfig;

/* tls_server_config.client_auth_type, as far as libmicrohttpd can do it. */
enum webconfig_client_auth {
	WEBCONFIG_NO_CLIENT_CERT,
	WEBCONFIG_VERIFY_IF_GIVEN,
	WEBCONFIG_REQUIRE_AND_VERIFY,
};

/**
 * webconfig_load - read and check @path, and the certificate and key
 * files it names.
 * @path: the YAML file.
 * @out: (output) the configuration; free with webconfig_free().
 * @err: (output) on failure, "PATH:LINE: what was wrong" naming the key.
 * @errlen: size of @err.
 *
 * Returns 0, or -1 with @err filled.
 */
int webconfig_load(const char *path, struct webconfig **out, char *err,
		   size_t errlen);

/** webconfig_free - free @wc. NULL is allowed. */
void webconfig_free(struct webconfig *wc);

/** webconfig_tls - true if the file asks for TLS. */
bool webconfig_tls(const struct webconfig *wc);

/* The PEM texts and the GnuTLS priority string, NUL-terminated; NULL if not given. */
const char *webconfig_cert_pem(const struct webconfig *wc);
const char *webconfig_key_pem(const struct webconfig *wc);
const char *webconfig_client_ca_pem(const struct webconfig *wc);
const char *webconfig_priorities(const struct webconfig *wc);
enum webconfig_client_auth webconfig_client_auth(const struct webconfig *wc);

/** webconfig_users - how many basic_auth_users; 0 means no basic auth. */
size_t webconfig_users(const struct webconfig *wc);

/* The outcome of webconfig_check_password. */
enum webconfig_auth {
	WEBCONFIG_AUTH_OK,
	WEBCONFIG_AUTH_DENIED,    /* no such user, or a wrong password */
	WEBCONFIG_AUTH_THROTTLED, /* too many password checks this second: try later */
};

/**
 * webconfig_check_password - may @user with @password in?
 * @now_ns: CLOCK_MONOTONIC, for the rate limit of bcrypt checks.
 *
 * Costs a bcrypt (tens of ms at cost 10) unless this user's password
 * checked before. Call from the serving thread only.
 */
enum webconfig_auth webconfig_check_password(struct webconfig *wc,
					     const char *user,
					     const char *password,
					     uint64_t now_ns);

/**
 * webconfig_hash_password - a bcrypt hash ($2y$, cost @cost) of @password
 * for basic_auth_users, into @out (at least 128 bytes).
 * Returns 0, or -1 with @out holding the reason.
 */
int webconfig_hash_password(const char *password, unsigned cost, char *out,
			    size_t outlen);

#endif /* ISOCTL_WEBCONFIG_H */
