/*
 * test_classify.c - failure classification: every row of the errno, curl,
 * HTTP and message tables, Retry-After in both forms, and the
 * user-extensible message table (including from racing threads).
 *
 * The expected values are written out here again on purpose: the tests
 * pin the documented decisions (docs/guard.md), not whatever the tables
 * in src/classify.c happen to say.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "isoreg.h"

struct row {
	int code;
	int type;
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ errno */

Test(classify, errno_rows_map_to_documented_types)
{
	static const struct row rows[] = {
		{ ECONNREFUSED, ISO_FAIL_NETWORK },
		{ ECONNRESET, ISO_FAIL_NETWORK },
		{ ECONNABORTED, ISO_FAIL_NETWORK },
		{ ETIMEDOUT, ISO_FAIL_NETWORK },
		{ EHOSTUNREACH, ISO_FAIL_NETWORK },
		{ EHOSTDOWN, ISO_FAIL_NETWORK },
		{ ENETUNREACH, ISO_FAIL_NETWORK },
		{ ENETDOWN, ISO_FAIL_NETWORK },
		{ ENETRESET, ISO_FAIL_NETWORK },
		{ ENOTCONN, ISO_FAIL_NETWORK },
		{ EPIPE, ISO_FAIL_NETWORK },
		{ ESHUTDOWN, ISO_FAIL_NETWORK },
		{ EADDRNOTAVAIL, ISO_FAIL_NETWORK },
		{ ENONET, ISO_FAIL_NETWORK },
		{ EAGAIN, ISO_FAIL_NETWORK },
		{ EWOULDBLOCK, ISO_FAIL_NETWORK },
		{ EACCES, ISO_FAIL_AUTHENTICATION },
		{ EPERM, ISO_FAIL_AUTHENTICATION },
		{ ENOKEY, ISO_FAIL_AUTHENTICATION },
		{ EKEYEXPIRED, ISO_FAIL_AUTHENTICATION },
		{ EKEYREVOKED, ISO_FAIL_AUTHENTICATION },
		{ EKEYREJECTED, ISO_FAIL_AUTHENTICATION },
		{ EPROTO, ISO_FAIL_API },
		{ EBADMSG, ISO_FAIL_API },
		{ EMSGSIZE, ISO_FAIL_API },
		{ ECANCELED, ISO_FAIL_EXECUTION },
		/* Not the account's doing: local resources, signals, bugs. */
		{ ENOMEM, ISO_FAIL_UNKNOWN },
		{ EMFILE, ISO_FAIL_UNKNOWN },
		{ EINTR, ISO_FAIL_UNKNOWN },
		{ EBADF, ISO_FAIL_UNKNOWN },
		{ 100000, ISO_FAIL_UNKNOWN },
	};
	for (size_t i = 0; i < N(rows); i++)
		cr_expect_eq(iso_classify_errno(rows[i].code), rows[i].type,
			     "errno %d (%s): got %s, want %s", rows[i].code,
			     strerror(rows[i].code),
			     iso_failure_type_name(iso_classify_errno(
				     rows[i].code)),
			     iso_failure_type_name(rows[i].type));
}

Test(classify, errno_zero_is_not_a_failure_and_negated_errno_counts)
{
	cr_expect_eq(iso_classify_errno(0), ISO_NOT_A_FAILURE);
	cr_expect_eq(iso_classify_errno(-ECONNRESET), ISO_FAIL_NETWORK);
	cr_expect_eq(iso_classify_errno(-EACCES), ISO_FAIL_AUTHENTICATION);
	cr_expect_eq(iso_classify_errno(-2147483647 - 1), ISO_FAIL_UNKNOWN);
}

/* ---------------------------------------------------------------- libcurl */

Test(classify, curl_codes_map_to_documented_types)
{
	static const struct row rows[] = {
		{ 5, ISO_FAIL_NETWORK },   /* COULDNT_RESOLVE_PROXY */
		{ 6, ISO_FAIL_NETWORK },   /* COULDNT_RESOLVE_HOST */
		{ 7, ISO_FAIL_NETWORK },   /* COULDNT_CONNECT */
		{ 8, ISO_FAIL_API },       /* WEIRD_SERVER_REPLY */
		{ 9, ISO_FAIL_AUTHENTICATION }, /* REMOTE_ACCESS_DENIED */
		{ 16, ISO_FAIL_NETWORK },  /* HTTP2 */
		{ 18, ISO_FAIL_NETWORK },  /* PARTIAL_FILE */
		{ 22, ISO_FAIL_API },      /* HTTP_RETURNED_ERROR */
		{ 28, ISO_FAIL_NETWORK },  /* OPERATION_TIMEDOUT */
		{ 35, ISO_FAIL_NETWORK },  /* SSL_CONNECT_ERROR */
		{ 45, ISO_FAIL_NETWORK },  /* INTERFACE_FAILED */
		{ 47, ISO_FAIL_API },      /* TOO_MANY_REDIRECTS */
		{ 52, ISO_FAIL_NETWORK },  /* GOT_NOTHING */
		{ 55, ISO_FAIL_NETWORK },  /* SEND_ERROR */
		{ 56, ISO_FAIL_NETWORK },  /* RECV_ERROR */
		{ 58, ISO_FAIL_AUTHENTICATION }, /* SSL_CERTPROBLEM */
		{ 59, ISO_FAIL_NETWORK },  /* SSL_CIPHER */
		{ 60, ISO_FAIL_AUTHENTICATION }, /* PEER_FAILED_VERIFICATION */
		{ 61, ISO_FAIL_API },      /* BAD_CONTENT_ENCODING */
		{ 63, ISO_FAIL_API },      /* FILESIZE_EXCEEDED */
		{ 65, ISO_FAIL_NETWORK },  /* SEND_FAIL_REWIND */
		{ 67, ISO_FAIL_AUTHENTICATION }, /* LOGIN_DENIED */
		{ 80, ISO_FAIL_NETWORK },  /* SSL_SHUTDOWN_FAILED */
		{ 81, ISO_FAIL_NETWORK },  /* AGAIN */
		{ 83, ISO_FAIL_AUTHENTICATION }, /* SSL_ISSUER_ERROR */
		{ 88, ISO_FAIL_NETWORK },  /* CHUNK_FAILED */
		{ 89, ISO_FAIL_NETWORK },  /* NO_CONNECTION_AVAILABLE */
		{ 90, ISO_FAIL_AUTHENTICATION }, /* SSL_PINNEDPUBKEYNOTMATCH */
		{ 91, ISO_FAIL_AUTHENTICATION }, /* SSL_INVALIDCERTSTATUS */
		{ 92, ISO_FAIL_NETWORK },  /* HTTP2_STREAM */
		{ 94, ISO_FAIL_AUTHENTICATION }, /* AUTH_ERROR */
		{ 95, ISO_FAIL_NETWORK },  /* HTTP3 */
		{ 96, ISO_FAIL_NETWORK },  /* QUIC_CONNECT_ERROR */
		{ 97, ISO_FAIL_NETWORK },  /* PROXY */
		{ 98, ISO_FAIL_AUTHENTICATION }, /* SSL_CLIENTCERT */
		{ 100, ISO_FAIL_API },     /* TOO_LARGE */
		/* Our own mistakes and codes we do not know: UNKNOWN. */
		{ 1, ISO_FAIL_UNKNOWN },   /* UNSUPPORTED_PROTOCOL */
		{ 3, ISO_FAIL_UNKNOWN },   /* URL_MALFORMAT */
		{ 27, ISO_FAIL_UNKNOWN },  /* OUT_OF_MEMORY */
		{ 43, ISO_FAIL_UNKNOWN },  /* BAD_FUNCTION_ARGUMENT */
		{ 48, ISO_FAIL_UNKNOWN },  /* UNKNOWN_OPTION */
		{ 77, ISO_FAIL_UNKNOWN },  /* SSL_CACERT_BADFILE */
		{ 999, ISO_FAIL_UNKNOWN },
		{ -1, ISO_FAIL_UNKNOWN },
	};
	for (size_t i = 0; i < N(rows); i++)
		cr_expect_eq(iso_classify_curl(rows[i].code), rows[i].type,
			     "CURLcode %d: got %s, want %s", rows[i].code,
			     iso_failure_type_name(iso_classify_curl(
				     rows[i].code)),
			     iso_failure_type_name(rows[i].type));
	cr_expect_eq(iso_classify_curl(0), ISO_NOT_A_FAILURE, "CURLE_OK");
}

/* ------------------------------------------------------------------- HTTP */

Test(classify, http_statuses_map_to_documented_types)
{
	static const struct row rows[] = {
		{ 400, ISO_FAIL_API },
		{ 401, ISO_FAIL_AUTHENTICATION },
		{ 402, ISO_FAIL_API },
		{ 403, ISO_FAIL_AUTHENTICATION },
		{ 404, ISO_FAIL_EXECUTION },
		{ 405, ISO_FAIL_API },
		{ 407, ISO_FAIL_AUTHENTICATION },
		{ 408, ISO_FAIL_NETWORK },
		{ 409, ISO_FAIL_EXECUTION },
		{ 410, ISO_FAIL_API },
		{ 418, ISO_FAIL_RATE_LIMIT },
		{ 422, ISO_FAIL_EXECUTION },
		{ 429, ISO_FAIL_RATE_LIMIT },
		{ 451, ISO_FAIL_API },
		{ 499, ISO_FAIL_API },
		{ 500, ISO_FAIL_API },
		{ 501, ISO_FAIL_API },
		{ 502, ISO_FAIL_API },
		{ 503, ISO_FAIL_API },
		{ 504, ISO_FAIL_NETWORK },
		{ 520, ISO_FAIL_API },
		{ 522, ISO_FAIL_NETWORK },
		{ 524, ISO_FAIL_NETWORK },
		{ 599, ISO_FAIL_API },
		/* Not HTTP statuses at all. */
		{ 0, ISO_FAIL_UNKNOWN },
		{ 99, ISO_FAIL_UNKNOWN },
		{ 600, ISO_FAIL_UNKNOWN },
		{ -404, ISO_FAIL_UNKNOWN },
	};
	for (size_t i = 0; i < N(rows); i++) {
		uint64_t ms = 99;
		int t = iso_classify_http(rows[i].code, NULL, 0, &ms);
		cr_expect_eq(t, rows[i].type, "HTTP %d: got %s, want %s",
			     rows[i].code, iso_failure_type_name(t),
			     iso_failure_type_name(rows[i].type));
		cr_expect_eq(ms, 0, "HTTP %d without Retry-After: %llu ms",
			     rows[i].code, (unsigned long long)ms);
	}
}

Test(classify, http_below_400_is_not_a_failure)
{
	static const int ok[] = { 100, 101, 200, 201, 204, 301, 304, 399 };
	for (size_t i = 0; i < N(ok); i++) {
		uint64_t ms = 99;
		cr_expect_eq(iso_classify_http(ok[i], "30", 0, &ms),
			     ISO_NOT_A_FAILURE, "HTTP %d", ok[i]);
		/* A success carries no wait, even with the header present. */
		cr_expect_eq(ms, 0, "HTTP %d: %llu ms", ok[i],
			     (unsigned long long)ms);
	}
}

Test(classify, http_429_carries_retry_after_in_both_forms)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT is 784111777 (RFC 9110's example). */
	const int64_t at = 784111777;
	uint64_t ms;

	cr_expect_eq(iso_classify_http(429, "120", at, &ms),
		     ISO_FAIL_RATE_LIMIT);
	cr_expect_eq(ms, 120000);
	cr_expect_eq(iso_classify_http(429, "Sun, 06 Nov 1994 08:49:37 GMT",
				       at - 45, &ms), ISO_FAIL_RATE_LIMIT);
	cr_expect_eq(ms, 45000);
	/* 503 with Retry-After: the exchange said when to come back. */
	cr_expect_eq(iso_classify_http(503, "5", at, &ms), ISO_FAIL_API);
	cr_expect_eq(ms, 5000);
	/* An unreadable header is ignored; the status still counts. */
	cr_expect_eq(iso_classify_http(429, "soon", at, &ms),
		     ISO_FAIL_RATE_LIMIT);
	cr_expect_eq(ms, 0);
	/* The output is optional. */
	cr_expect_eq(iso_classify_http(429, "7", at, NULL),
		     ISO_FAIL_RATE_LIMIT);
}

/* ------------------------------------------------------------ Retry-After */

struct ra_case {
	const char *value;
	int64_t now;
	uint64_t want_ms;
};

Test(classify, retry_after_parses_delta_seconds_and_imf_fixdate)
{
	const int64_t at = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
	static const struct ra_case ok[] = {
		{ "0", 0, 0 },
		{ "1", 0, 1000 },
		{ "120", 0, 120000 },
		{ "  7\t", 0, 7000 },
		{ "007", 0, 7000 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 1, 1000 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 - 3600, 3600000 },
		/* A date in the past, or now: retry at once. */
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777, 0 },
		{ "Sun, 06 Nov 1994 08:49:37 GMT", 784111777 + 10, 0 },
		/* Leap day, leap second, year boundary, the epoch. */
		{ "Thu, 29 Feb 2024 00:00:00 GMT", 1709164800 - 2, 2000 },
		{ "Sat, 31 Dec 2016 23:59:60 GMT", 1483228799, 1000 },
		{ "Thu, 01 Jan 1970 00:00:10 GMT", 0, 10000 },
		{ "Wed, 25 Nov 2026 10:00:00 GMT", 1795600800 - 60, 60000 },
	};
	(void)at;
	for (size_t i = 0; i < N(ok); i++) {
		uint64_t ms = 12345;
		int rc = iso_retry_after_parse(ok[i].value, ok[i].now, &ms);
		cr_expect_eq(rc, 0, "'%s': %s (%s)", ok[i].value,
			     iso_strerror(rc), iso_last_error());
		cr_expect_eq(ms, ok[i].want_ms, "'%s' at %lld: %llu ms, want "
			     "%llu", ok[i].value, (long long)ok[i].now,
			     (unsigned long long)ms,
			     (unsigned long long)ok[i].want_ms);
	}
}

Test(classify, retry_after_is_capped_so_a_header_cannot_halt_for_ever)
{
	uint64_t ms;
	cr_expect_eq(iso_retry_after_parse("99999999999999999999999", 0, &ms),
		     0);
	cr_expect_eq(ms, ISO_TIMEOUT_MAX_MS);
	cr_expect_eq(iso_retry_after_parse("Fri, 31 Dec 9999 23:59:59 GMT",
					   0, &ms), 0);
	cr_expect_eq(ms, ISO_TIMEOUT_MAX_MS);
}

Test(classify, retry_after_rejects_what_it_cannot_read)
{
	static const char *const bad[] = {
		"", "   ", "soon", "12a", "-5", "+5", "1.5",
		"Sun, 06 Nov 1994 08:49:37 UTC",    /* must be GMT */
		"Sun, 6 Nov 1994 08:49:37 GMT",     /* day needs two digits */
		"Sunday, 06-Nov-94 08:49:37 GMT",   /* obsolete RFC 850 */
		"Sun Nov  6 08:49:37 1994",         /* obsolete asctime */
		"Sun, 06 Nov 1994 24:00:00 GMT",    /* hour */
		"Sun, 06 Nov 1994 08:60:00 GMT",    /* minute */
		"Sun, 06 Nov 1994 08:49:61 GMT",    /* second */
		"Sun, 31 Apr 1994 08:49:37 GMT",    /* no 31 April */
		"Sun, 29 Feb 2023 08:49:37 GMT",    /* not a leap year */
		"Sun, 00 Nov 1994 08:49:37 GMT",    /* day 0 */
		"Xyz, 06 Nov 1994 08:49:37 GMT",    /* weekday */
		"Sun, 06 Foo 1994 08:49:37 GMT",    /* month */
		"Sun, 06 Nov 1994 08:49:37 GMTx",   /* trailing junk */
	};
	for (size_t i = 0; i < N(bad); i++) {
		uint64_t ms = 12345;
		cr_expect_eq(iso_retry_after_parse(bad[i], 0, &ms), ISO_EINVAL,
			     "'%s' accepted", bad[i]);
		cr_expect_eq(ms, 0, "'%s': output not cleared", bad[i]);
		cr_expect(strstr(iso_last_error(), "retry-after") != NULL,
			  "'%s': message '%s' does not say what failed",
			  bad[i], iso_last_error());
	}
	cr_expect_eq(iso_retry_after_parse(NULL, 0, &(uint64_t){ 0 }),
		     ISO_EINVAL);
	cr_expect_eq(iso_retry_after_parse("5", 0, NULL), ISO_EINVAL);
}

/* --------------------------------------------------------------- messages */

struct msg_case {
	const char *text;
	int type;
};

Test(classify, exchange_messages_map_to_documented_types)
{
	static const struct msg_case cases[] = {
		/* Kraken */
		{ "EOrder:Insufficient funds", ISO_FAIL_BALANCE },
		{ "EOrder:Insufficient margin", ISO_FAIL_BALANCE },
		{ "EAPI:Invalid nonce", ISO_FAIL_AUTHENTICATION },
		{ "EAPI:Invalid key", ISO_FAIL_AUTHENTICATION },
		{ "EAPI:Invalid signature", ISO_FAIL_AUTHENTICATION },
		{ "EGeneral:Permission denied", ISO_FAIL_AUTHENTICATION },
		{ "EAPI:Rate limit exceeded", ISO_FAIL_RATE_LIMIT },
		{ "EOrder:Rate limit exceeded", ISO_FAIL_RATE_LIMIT },
		{ "EGeneral:Temporary lockout", ISO_FAIL_RATE_LIMIT },
		{ "EOrder:Unknown order", ISO_FAIL_EXECUTION },
		{ "EOrder:Order minimum not met", ISO_FAIL_EXECUTION },
		{ "EOrder:Positions limit exceeded", ISO_FAIL_POSITION },
		{ "EService:Unavailable", ISO_FAIL_API },
		{ "EService:Busy", ISO_FAIL_API },
		/* Coinbase Advanced Trade */
		{ "INSUFFICIENT_FUND", ISO_FAIL_BALANCE },
		{ "{\"failure_reason\":\"INSUFFICIENT_FUND\"}", ISO_FAIL_BALANCE },
		{ "Unauthorized.", ISO_FAIL_AUTHENTICATION },
		/* Binance */
		{ "Account has insufficient balance for requested action.",
		  ISO_FAIL_BALANCE },
		{ "Margin is insufficient.", ISO_FAIL_BALANCE },
		{ "Unknown order sent.", ISO_FAIL_EXECUTION },
		{ "Invalid API-key, IP, or permissions for action.",
		  ISO_FAIL_AUTHENTICATION },
		{ "Signature for this request is not valid.",
		  ISO_FAIL_AUTHENTICATION },
		{ "Timestamp for this request is outside of the recvWindow.",
		  ISO_FAIL_AUTHENTICATION },
		{ "Too much request weight used; current limit is 1200 "
		  "request weight per 1 MINUTE.", ISO_FAIL_RATE_LIMIT },
		/* Generic texts */
		{ "insufficient funds", ISO_FAIL_BALANCE },
		{ "INSUFFICIENT FUNDS", ISO_FAIL_BALANCE },
		{ "invalid nonce", ISO_FAIL_AUTHENTICATION },
		{ "Invalid API key", ISO_FAIL_AUTHENTICATION },
		{ "permission denied", ISO_FAIL_AUTHENTICATION },
		{ "rate limit reached", ISO_FAIL_RATE_LIMIT },
		{ "Too Many Requests", ISO_FAIL_RATE_LIMIT },
		{ "unknown order", ISO_FAIL_EXECUTION },
		{ "no open position to close", ISO_FAIL_POSITION },
		{ "gateway timeout", ISO_FAIL_NETWORK },
		{ "the request timed out", ISO_FAIL_NETWORK },
		/* No row: the exchange said no for a reason we do not know. */
		{ "EGeneral:Invalid arguments", ISO_FAIL_API },
		{ "something odd", ISO_FAIL_API },
		/* Nothing said at all. */
		{ "", ISO_FAIL_UNKNOWN },
		{ NULL, ISO_FAIL_UNKNOWN },
	};
	for (size_t i = 0; i < N(cases); i++) {
		int t = iso_classify_message(cases[i].text);
		cr_expect_eq(t, cases[i].type, "'%s': got %s, want %s",
			     cases[i].text ? cases[i].text : "(null)",
			     iso_failure_type_name(t),
			     iso_failure_type_name(cases[i].type));
	}
}

Test(classify, user_rows_come_first_newest_first)
{
	cr_expect_eq(iso_classify_message("ERR-4021 lot size"), ISO_FAIL_API);
	cr_assert_eq(iso_classify_add_message("err-4021", ISO_FAIL_EXECUTION),
		     0);
	cr_expect_eq(iso_classify_message("ERR-4021 lot size"),
		     ISO_FAIL_EXECUTION, "user row is case-insensitive");

	/* A user row overrides a built-in one. */
	cr_assert_eq(iso_classify_add_message("insufficient funds",
					      ISO_FAIL_POSITION), 0);
	cr_expect_eq(iso_classify_message("EOrder:Insufficient funds"),
		     ISO_FAIL_POSITION);
	/* And a newer user row overrides an older one. */
	cr_assert_eq(iso_classify_add_message("ERR-4021", ISO_FAIL_BALANCE),
		     0);
	cr_expect_eq(iso_classify_message("err-4021"), ISO_FAIL_BALANCE);
	/* Other texts are untouched. */
	cr_expect_eq(iso_classify_message("EAPI:Invalid nonce"),
		     ISO_FAIL_AUTHENTICATION);
}

Test(classify, add_message_refuses_bad_rows_by_name)
{
	char big[ISO_CLASSIFY_MSG_MAX + 2];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';

	cr_expect_eq(iso_classify_add_message(NULL, ISO_FAIL_API), ISO_EINVAL);
	cr_expect_eq(iso_classify_add_message("", ISO_FAIL_API), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "length 0") != NULL, "%s",
		  iso_last_error());
	cr_expect_eq(iso_classify_add_message(big, ISO_FAIL_API), ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "1..63") != NULL, "%s",
		  iso_last_error());
	cr_expect_eq(iso_classify_add_message("ok", ISO_FAIL__COUNT),
		     ISO_EINVAL);
	cr_expect(strstr(iso_last_error(), "failure type") != NULL, "%s",
		  iso_last_error());
	cr_expect_eq(iso_classify_add_message("ok", (enum iso_failure_type)-1),
		     ISO_EINVAL);
	/* The longest legal pattern is accepted. */
	big[ISO_CLASSIFY_MSG_MAX] = '\0';
	cr_expect_eq(iso_classify_add_message(big, ISO_FAIL_API), 0);
}

Test(classify, add_message_table_fills_then_says_full)
{
	char p[64];
	for (int i = 0; i < ISO_CLASSIFY_USER_ROWS; i++) {
		snprintf(p, sizeof(p), "pattern-%03d", i);
		cr_assert_eq(iso_classify_add_message(p, ISO_FAIL_POSITION), 0,
			     "row %d: %s", i, iso_last_error());
	}
	cr_expect_eq(iso_classify_add_message("one-too-many",
					      ISO_FAIL_BALANCE), ISO_EFULL);
	cr_expect(strstr(iso_last_error(), "full") != NULL, "%s",
		  iso_last_error());
	/* Refusals never wrap the table: still full, rows still there. */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(iso_classify_add_message("again", ISO_FAIL_API),
			     ISO_EFULL);
	cr_expect_eq(iso_classify_message("PATTERN-000"), ISO_FAIL_POSITION);
	cr_expect_eq(iso_classify_message("pattern-063"), ISO_FAIL_POSITION);
	cr_expect_eq(iso_classify_message("one-too-many"), ISO_FAIL_API);
}

/* Writers append rows while readers classify: under TSan too. */
#define RACE_WRITERS 4
#define RACE_READERS 4
#define RACE_ROWS 12

static void *race_writer(void *arg)
{
	int w = (int)(intptr_t)arg;
	char p[64];
	for (int i = 0; i < RACE_ROWS; i++) {
		snprintf(p, sizeof(p), "race-w%d-r%02d", w, i);
		if (iso_classify_add_message(p, (enum iso_failure_type)(
			(w + i) % ISO_FAIL__COUNT)))
			return (void *)1;
	}
	return NULL;
}

static void *race_reader(void *arg)
{
	(void)arg;
	char p[64];
	for (int round = 0; round < 200; round++)
		for (int w = 0; w < RACE_WRITERS; w++)
			for (int i = 0; i < RACE_ROWS; i++) {
				snprintf(p, sizeof(p), "x race-w%d-r%02d y", w,
					 i);
				int t = iso_classify_message(p);
				/* Either not there yet (API) or complete. */
				if (t != ISO_FAIL_API &&
				    t != (w + i) % ISO_FAIL__COUNT)
					return (void *)1;
			}
	return NULL;
}

Test(classify, add_message_races_readers_in_8_threads)
{
	pthread_t th[RACE_WRITERS + RACE_READERS];
	for (int i = 0; i < RACE_WRITERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, race_writer,
					    (void *)(intptr_t)i), 0);
	for (int i = 0; i < RACE_READERS; i++)
		cr_assert_eq(pthread_create(&th[RACE_WRITERS + i], NULL,
					    race_reader, NULL), 0);
	for (int i = 0; i < RACE_WRITERS + RACE_READERS; i++) {
		void *r;
		pthread_join(th[i], &r);
		cr_expect_null(r, "thread %d saw a torn or wrong row", i);
	}
	char p[64];
	for (int w = 0; w < RACE_WRITERS; w++)
		for (int i = 0; i < RACE_ROWS; i++) {
			snprintf(p, sizeof(p), "race-w%d-r%02d", w, i);
			cr_expect_eq(iso_classify_message(p),
				     (w + i) % ISO_FAIL__COUNT, "%s", p);
		}
}
