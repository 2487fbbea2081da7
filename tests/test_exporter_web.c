/*
 * test_exporter_web.c - `isoctl serve --web.config.file` [T3]: the
 * exporter-toolkit file refused with its line and key named when it is
 * wrong, and TLS, basic auth and client certificates enforced on every
 * path when it is right (curl as the client, openssl to make the
 * certificates, libxcrypt to make the bcrypt hashes).
 *
 * The Prometheus end-to-end test over TLS and basic auth is in
 * test_exporter.c, beside the other Prometheus test helpers.
 */
#include <criterion/criterion.h>
#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isoreg.h"
#include "support/exporter_util.h"

static char seg[64];
static char dir[128];

static void setup(void)
{
	snprintf(seg, sizeof(seg), "/isoreg-test-exweb-%d", (int)getpid());
	iso_unlink(seg);
	ex_make_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	iso_unlink(seg);
	ex_remove_tmpdir(dir);
}

TestSuite(exporter_web, .init = setup, .fini = teardown, .timeout = 60);

/* Write @text as @dir/@name; the path into @path (256 bytes). */
static void put_file(const char *name, const char *text, char *path)
{
	snprintf(path, 256, "%s/%s", dir, name);
	ex_write_file(path, text);
}

/* `isoctl serve --web.config.file @path`: its exit status, its words in @err. */
static int serve_with(const char *path, char *err, size_t errlen)
{
	char bin[512];

	snprintf(bin, sizeof(bin), "%s/isoctl", ex_bin_dir());
	char *argv[] = { bin, "serve", "--listen", "127.0.0.1:0", "--segment",
			 seg, "--web.config.file", (char *)path, NULL };
	return ex_run(argv, err, sizeof(err[0]) * errlen);
}

/*
 * [T3] Each bad file: exit 2 before listening, and the message names the
 * file, the line and the key (or value) that is wrong.
 */
Test(exporter_web, bad_files_are_refused_naming_the_line_and_key)
{
	char hash[128], text[1024], path[256], err[2048];

	ex_bcrypt("pw", hash, sizeof(hash));
	const struct {
		const char *text;
		const char *line;  /* ":N: " */
		const char *words; /* what the message must say */
	} cases[] = {
		{ "tls_config:\n  cert_file: a.crt\n", ":1: ", "tls_config: unknown key" },
		{ "basic_auth_users:\n  alice: secret\n", ":2: ", "basic_auth_users.alice: not a bcrypt hash" },
		{ "basic_auth_users:\n  alice: %s\n  alice: %s\n", ":3: ", "alice: given twice (first on line 2)" },
		{ "tls_server_config:\n  cert_file: s.crt\n", ":2: ", "key_file is missing" },
		{ "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  client_auth_type: Sometimes\n",
		  ":4: ", "client_auth_type: unknown value 'Sometimes'" },
		{ "tls_server_config:\n  cert_file: s.crt\n  key_file: s.key\n  min_version: TLS14\n",
		  ":4: ", "min_version: unknown version 'TLS14'" },
		{ "tls_server_config:\n  cert_file: nothere.crt\n  key_file: s.key\n", ":2: ",
		  "tls_server_config.cert_file: cannot open" },
		{ "tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", ":2: ",
		  "cipher_suites: not supported" },
		{ "http_server_config:\n  http2: maybe\n", ":2: ", "http2: want true or false" },
		{ "basic_auth_users: [alice]\n", ":1: ", "basic_auth_users: want a mapping" },
		{ "tls_server_config: {cert_file: [\n", ":2: ", "not valid YAML" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), cases[i].text, hash, hash);
		put_file("web.yml", text, path);
		int st = serve_with(path, err, sizeof(err));
		cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "case %zu: status %d: %s", i, st, err);
		char want[300];
		snprintf(want, sizeof(want), "%s%s", path, cases[i].line);
		cr_expect_not_null(strstr(err, want), "case %zu: no '%s' in: %s", i, want, err);
		cr_expect_not_null(strstr(err, cases[i].words), "case %zu: no '%s' in: %s", i,
				   cases[i].words, err);
	}

	/* A certificate that does not go with its key: both named. */
	if (!ex_make_cert(dir, "one", NULL) || !ex_make_cert(dir, "two", NULL))
		cr_skip_test("openssl not installed: certificate cases not run");
	put_file("web.yml", "tls_server_config:\n  cert_file: one.crt\n  key_file: two.key\n", path);
	int st = serve_with(path, err, sizeof(err));
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d: %s", st, err);
	cr_expect_not_null(strstr(err, "cannot load cert_file one.crt with key_file two.key"), "%s", err);
}

/* curl @args... > @out; returns curl's exit status (0 ok, 35/60 TLS, 22 HTTP >= 400 with -f). */
static int curl(char *out, size_t outlen, const char *const args[])
{
	char *argv[32];
	int k = 0;

	argv[k++] = "/usr/bin/curl";
	argv[k++] = "-sS";
	argv[k++] = "--max-time";
	argv[k++] = "10";
	for (int i = 0; args[i] && k < 31; i++)
		argv[k++] = (char *)args[i];
	argv[k] = NULL;
	int st = ex_run(argv, out, outlen);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1000;
}

/*
 * [T3] TLS and basic auth on every path: the right password gets the
 * metrics (isoreg_up 0 here: there is no segment); a wrong one, none, or
 * plain HTTP get nothing; promtool accepts the file.
 */
Test(exporter_web, tls_and_basic_auth_guard_every_path)
{
	char hash[128], text[1024], path[256], out[8192], url[128], ca[256];
	struct ex_child c;

	if (!ex_have("/usr/bin/curl") || !ex_make_cert(dir, "server", NULL))
		cr_skip_test("curl or openssl not installed (Debian packages curl, openssl)");
	ex_bcrypt("right horse", hash, sizeof(hash));
	snprintf(text, sizeof(text),
		 "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		 "  min_version: TLS12\nhttp_server_config:\n  http2: true\n"
		 "basic_auth_users:\n  prometheus: %s\n",
		 hash);
	put_file("web.yml", text, path);
	if (ex_have("/usr/bin/promtool")) {
		char *check[] = { "/usr/bin/promtool", "check", "web-config", path, NULL };
		int st = ex_run(check, out, sizeof(out));
		cr_expect_eq(st, 0, "promtool check web-config:\n%s", out);
	}
	const char *extra[] = { "--web.config.file", path, NULL };
	int port = ex_start_exporter(&c, seg, extra);
	snprintf(ca, sizeof(ca), "%s/server.crt", dir);

	static const char *const paths[] = { "/metrics", "/", "/healthz" };
	for (int i = 0; i < 3; i++) {
		snprintf(url, sizeof(url), "https://127.0.0.1:%d%s", port, paths[i]);
		const char *good[] = { "--cacert", ca, "-u", "prometheus:right horse",
				       "-o", "/dev/null", "-w", "%{http_code}", url, NULL };
		cr_expect_eq(curl(out, sizeof(out), good), 0, "%s: %s", url, out);
		cr_expect_str_eq(out, paths[i][1] == 'h' ? "503" : "200", "%s with the password", url);
		const char *bad[] = { "--cacert", ca, "-u", "prometheus:wrong horse",
				      "-o", "/dev/null", "-w", "%{http_code}", url, NULL };
		cr_expect_eq(curl(out, sizeof(out), bad), 0, "%s: %s", url, out);
		cr_expect_str_eq(out, "401", "%s with a wrong password", url);
		const char *none[] = { "--cacert", ca, "-o", "/dev/null", "-w", "%{http_code}", url, NULL };
		cr_expect_eq(curl(out, sizeof(out), none), 0, "%s: %s", url, out);
		cr_expect_str_eq(out, "401", "%s without a password", url);
		const char *unknown[] = { "--cacert", ca, "-u", "mallory:right horse",
					  "-o", "/dev/null", "-w", "%{http_code}", url, NULL };
		cr_expect_eq(curl(out, sizeof(out), unknown), 0, "%s: %s", url, out);
		cr_expect_str_eq(out, "401", "%s as an unknown user", url);
	}
	/* The body, gzip and all, through TLS. */
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/metrics", port);
	const char *body[] = { "--cacert", ca, "-u", "prometheus:right horse", "--compressed", url, NULL };
	cr_expect_eq(curl(out, sizeof(out), body), 0, "%s", out);
	cr_expect_not_null(strstr(out, "\nisoreg_up 0\n"), "%s", out);
	/* Plain HTTP to the TLS port gets no metrics. */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", port);
	const char *plain[] = { "-u", "prometheus:right horse", url, NULL };
	curl(out, sizeof(out), plain);
	cr_expect_null(strstr(out, "isoreg_up"), "metrics over plain HTTP: %s", out);
	cr_expect_eq(WEXITSTATUS(ex_stop(&c, SIGTERM)), 0);
}

/*
 * [T3] client_auth_type RequireAndVerifyClientCert: a certificate signed by
 * client_ca_file gets in, none or a self-signed one does not.
 */
Test(exporter_web, client_certificates_are_verified_against_client_ca_file)
{
	char path[256], out[8192], url[128], ca[256], crt[256], key[256], rogue[2][256];
	struct ex_child c;

	if (!ex_have("/usr/bin/curl") || !ex_make_cert(dir, "server", NULL))
		cr_skip_test("curl or openssl not installed (Debian packages curl, openssl)");
	ex_make_cert(dir, "clientca", NULL);
	ex_make_cert(dir, "client", "clientca");
	ex_make_cert(dir, "rogue", NULL);
	put_file("web.yml",
		 "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
		 "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: clientca.crt\n",
		 path);
	const char *extra[] = { "--web.config.file", path, NULL };
	int port = ex_start_exporter(&c, seg, extra);
	snprintf(ca, sizeof(ca), "%s/server.crt", dir);
	snprintf(crt, sizeof(crt), "%s/client.crt", dir);
	snprintf(key, sizeof(key), "%s/client.key", dir);
	snprintf(rogue[0], sizeof(rogue[0]), "%s/rogue.crt", dir);
	snprintf(rogue[1], sizeof(rogue[1]), "%s/rogue.key", dir);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/metrics", port);

	const char *good[] = { "--cacert", ca, "--cert", crt, "--key", key, url, NULL };
	cr_expect_eq(curl(out, sizeof(out), good), 0, "%s", out);
	cr_expect_not_null(strstr(out, "isoreg_up 0"), "%s", out);
	const char *none[] = { "--cacert", ca, url, NULL };
	curl(out, sizeof(out), none);
	cr_expect_null(strstr(out, "isoreg_up"), "metrics without a client certificate: %s", out);
	const char *bad[] = { "--cacert", ca, "--cert", rogue[0], "--key", rogue[1], url, NULL };
	curl(out, sizeof(out), bad);
	cr_expect_null(strstr(out, "isoreg_up"), "metrics for a certificate not from client_ca_file: %s", out);
	cr_expect_eq(WEXITSTATUS(ex_stop(&c, SIGTERM)), 0);
}

/* [T3] --hash-password prints a bcrypt hash of its stdin that checks, and refuses an empty one. */
Test(exporter_web, hash_password_prints_a_bcrypt_hash_that_checks)
{
	char cmd[640], hash[256];
	struct crypt_data cd;

	snprintf(cmd, sizeof(cmd), "printf 'right horse\\n' | '%s/isoctl' serve --hash-password", ex_bin_dir());
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	cr_assert_not_null(fgets(hash, sizeof(hash), p));
	cr_expect_eq(pclose(p), 0);
	hash[strcspn(hash, "\n")] = 0;
	cr_expect_eq(strncmp(hash, "$2y$10$", 7), 0, "not a cost-10 bcrypt hash: %s", hash);
	memset(&cd, 0, sizeof(cd));
	const char *again = crypt_rn("right horse", hash, &cd, sizeof(cd));
	cr_expect(again && strcmp(again, hash) == 0, "the hash does not check: %s", hash);
	memset(&cd, 0, sizeof(cd));
	again = crypt_rn("wrong horse", hash, &cd, sizeof(cd));
	cr_expect(!again || strcmp(again, hash) != 0, "a wrong password checks");

	snprintf(cmd, sizeof(cmd), "printf '\\n' | '%s/isoctl' serve --hash-password 2>&1", ex_bin_dir());
	p = popen(cmd, "r");
	cr_assert_not_null(p);
	char out[256] = "";
	cr_expect_not_null(fgets(out, sizeof(out), p));
	int st = pclose(p);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 2, "status %d", st);
	cr_expect_not_null(strstr(out, "the password is empty"), "%s", out);
}
