/*
 * classify.c - what kind of failure an error code or message is.
 *
 * Owns the tables that turn an errno value, an HTTP status (with its
 * Retry-After), a libcurl CURLcode and an exchange's error text into one of
 * the reference's failure types, and the process-local table of message
 * substrings that users extend. Each decision is one table row with the
 * reason beside it, so docs/guard.md and the tests can follow the rows.
 *
 * It must never touch the segment, never allocate, and never depend on
 * libcurl or a locale: a classification is a pure function of its input
 * (plus the user rows added so far).
 */
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

/* ------------------------------------------------------------------ errno */


/*
 * errno values a broker call (socket, TLS, file of credentials) can end
 * with. Transport trouble is NETWORK. A refused permission is
 * AUTHENTICATION: retrying will not help until a person fixes a key, a file
 * mode or a firewall rule, which is what trip_on=AUTHENTICATION is for.
 * Malformed replies are the exchange's API. Local resource exhaustion
 * (ENOMEM, EMFILE) is not the account's fault and stays UNKNOWN, like
 * anything not listed. getaddrinfo's EAI_* codes are not errno values; a
 * resolver failure should be reported as ENETUNREACH or via its curl code.
 */
static const struct code_row errno_rows[] = {
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
	/* A socket read or write with SO_RCVTIMEO/SO_SNDTIMEO that ran out. */
	{ EAGAIN, ISO_FAIL_NETWORK },
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
};

int iso_code_lookup(const struct code_row *rows, size_t n, int code)
{
	for (size_t i = 0; i < n; i++)
		if (rows[i].code == code)
			return (int)rows[i].type;
	return ISO_FAIL_UNKNOWN;
}

int iso_classify_errno(int err)
{
	if (err == 0)
		return ISO_NOT_A_FAILURE;
	/* Callers that hold a negated errno (-ECONNRESET) mean the same. */
	if (err < 0 && err > INT_MIN)
		err = -err;
	return iso_code_lookup(errno_rows, sizeof(errno_rows) / sizeof(errno_rows[0]),
		      err);
}

/* ---------------------------------------------------------------- libcurl */

/*
 * CURLcode values as integers (curl/curl.h; stable ABI since 7.x), so no
 * libcurl dependency. Transport and TLS-transport failures are NETWORK. A
 * TLS *identity* failure (the exchange's certificate does not verify, a
 * pinned key mismatch, our client certificate refused) is AUTHENTICATION:
 * a retry cannot fix it and it should stop the account at once. Codes that
 * mean our own program is wrong (bad option, bad URL, out of memory) are
 * UNKNOWN: they are not the broker's doing.
 */
static const struct code_row curl_rows[] = {
	{ 5, ISO_FAIL_NETWORK },   /* COULDNT_RESOLVE_PROXY */
	{ 6, ISO_FAIL_NETWORK },   /* COULDNT_RESOLVE_HOST */
	{ 7, ISO_FAIL_NETWORK },   /* COULDNT_CONNECT */
	{ 8, ISO_FAIL_API },       /* WEIRD_SERVER_REPLY */
	{ 9, ISO_FAIL_AUTHENTICATION }, /* REMOTE_ACCESS_DENIED */
	{ 16, ISO_FAIL_NETWORK },  /* HTTP2 framing layer */
	{ 18, ISO_FAIL_NETWORK },  /* PARTIAL_FILE: the reply was cut */
	{ 22, ISO_FAIL_API },      /* HTTP_RETURNED_ERROR: classify the status */
	{ 28, ISO_FAIL_NETWORK },  /* OPERATION_TIMEDOUT */
	{ 35, ISO_FAIL_NETWORK },  /* SSL_CONNECT_ERROR: handshake failed */
	{ 45, ISO_FAIL_NETWORK },  /* INTERFACE_FAILED */
	{ 47, ISO_FAIL_API },      /* TOO_MANY_REDIRECTS */
	{ 52, ISO_FAIL_NETWORK },  /* GOT_NOTHING */
	{ 55, ISO_FAIL_NETWORK },  /* SEND_ERROR */
	{ 56, ISO_FAIL_NETWORK },  /* RECV_ERROR */
	{ 58, ISO_FAIL_AUTHENTICATION }, /* SSL_CERTPROBLEM: our client cert */
	{ 59, ISO_FAIL_NETWORK },  /* SSL_CIPHER: no common cipher */
	{ 60, ISO_FAIL_AUTHENTICATION }, /* PEER_FAILED_VERIFICATION */
	{ 61, ISO_FAIL_API },      /* BAD_CONTENT_ENCODING */
	{ 63, ISO_FAIL_API },      /* FILESIZE_EXCEEDED */
	{ 65, ISO_FAIL_NETWORK },  /* SEND_FAIL_REWIND: resend impossible */
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
	{ 97, ISO_FAIL_NETWORK },  /* PROXY handshake */
	{ 98, ISO_FAIL_AUTHENTICATION }, /* SSL_CLIENTCERT required */
	{ 100, ISO_FAIL_API },     /* TOO_LARGE */
};

int iso_classify_curl(int curl_code)
{
	if (curl_code == 0)
		return ISO_NOT_A_FAILURE; /* CURLE_OK */
	return iso_code_lookup(curl_rows, sizeof(curl_rows) / sizeof(curl_rows[0]),
		      curl_code);
}

/* ---------------------------------------------------------------- messages */

struct msg_row {
	const char *substr;
	enum iso_failure_type type;
};

/*
 * Exchange error texts, matched as case-insensitive substrings, first match
 * wins; the specific rows come before the broad ones ("position" last).
 * Kraken's "ECategory:Text" errors, Coinbase Advanced Trade's failure
 * reasons and Binance's msg strings.
 */
static const struct msg_row builtin_msgs[] = {
	{ "EOrder:Insufficient funds", ISO_FAIL_BALANCE },   /* Kraken */
	{ "EOrder:Insufficient margin", ISO_FAIL_BALANCE },  /* Kraken */
	{ "INSUFFICIENT_FUND", ISO_FAIL_BALANCE },           /* Coinbase */
	{ "insufficient funds", ISO_FAIL_BALANCE },
	{ "insufficient balance", ISO_FAIL_BALANCE },        /* Binance -2010 */
	{ "insufficient margin", ISO_FAIL_BALANCE },
	{ "margin is insufficient", ISO_FAIL_BALANCE },      /* Binance -2019 */
	{ "EAPI:Invalid nonce", ISO_FAIL_AUTHENTICATION },   /* Kraken */
	{ "EAPI:Invalid key", ISO_FAIL_AUTHENTICATION },     /* Kraken */
	{ "EAPI:Invalid signature", ISO_FAIL_AUTHENTICATION }, /* Kraken */
	{ "EGeneral:Permission denied", ISO_FAIL_AUTHENTICATION }, /* Kraken */
	{ "invalid nonce", ISO_FAIL_AUTHENTICATION },
	{ "invalid api-key", ISO_FAIL_AUTHENTICATION },      /* Binance -2015 */
	{ "invalid api key", ISO_FAIL_AUTHENTICATION },
	{ "invalid signature", ISO_FAIL_AUTHENTICATION },
	{ "signature for this request is not valid",
	  ISO_FAIL_AUTHENTICATION },                         /* Binance -1022 */
	{ "outside of the recvwindow", ISO_FAIL_AUTHENTICATION }, /* -1021 */
	{ "permission denied", ISO_FAIL_AUTHENTICATION },
	{ "unauthorized", ISO_FAIL_AUTHENTICATION },
	{ "EAPI:Rate limit exceeded", ISO_FAIL_RATE_LIMIT }, /* Kraken */
	{ "EOrder:Rate limit exceeded", ISO_FAIL_RATE_LIMIT }, /* Kraken */
	{ "EGeneral:Temporary lockout", ISO_FAIL_RATE_LIMIT }, /* Kraken */
	{ "rate limit", ISO_FAIL_RATE_LIMIT },
	{ "too many requests", ISO_FAIL_RATE_LIMIT },
	{ "too much request weight", ISO_FAIL_RATE_LIMIT },  /* Binance -1003 */
	{ "EOrder:Unknown order", ISO_FAIL_EXECUTION },      /* Kraken */
	{ "unknown order", ISO_FAIL_EXECUTION },             /* Binance -2011 */
	{ "EOrder:Order minimum not met", ISO_FAIL_EXECUTION }, /* Kraken */
	{ "EOrder:Positions limit exceeded", ISO_FAIL_POSITION }, /* Kraken */
	{ "position", ISO_FAIL_POSITION },
	{ "EService:Unavailable", ISO_FAIL_API },            /* Kraken */
	{ "EService:Busy", ISO_FAIL_API },                   /* Kraken */
	{ "timeout", ISO_FAIL_NETWORK },
	{ "timed out", ISO_FAIL_NETWORK },
};

/*
 * Rows added at run time. Appending is lock-free and safe from any thread:
 * a writer claims an index with one fetch-add, fills the row, then sets
 * its ready flag with release; a reader acquire-loads the flag (paired
 * with that release) before it reads the row, and skips rows not ready
 * yet. Rows are never removed, so no reader can see one change under it.
 */
struct user_row {
	char substr[ISO_CLASSIFY_MSG_MAX + 1];
	enum iso_failure_type type;
	atomic_bool ready;
};

static struct user_row user_rows[ISO_CLASSIFY_USER_ROWS];
static atomic_uint user_claimed; /* may overshoot the array; clamp */

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* ASCII case-insensitive strstr; no locale, so the same on every host. */
static bool contains_nocase(const char *hay, const char *needle)
{
	size_t n = strlen(needle);
	if (n == 0)
		return false;
	for (; *hay; hay++) {
		size_t i = 0;
		while (i < n && hay[i] && lower(hay[i]) == lower(needle[i]))
			i++;
		if (i == n)
			return true;
	}
	return false;
}

int iso_classify_message(const char *exchange_error)
{
	unsigned n;

	if (!exchange_error || !*exchange_error)
		return ISO_FAIL_UNKNOWN;
	/*
	 * Newest user row first, so a user can correct both a built-in row
	 * and an earlier row of their own. Relaxed is enough for the count:
	 * each row's own ready flag is the acquire that publishes it.
	 */
	n = atomic_load_explicit(&user_claimed, memory_order_relaxed);
	if (n > ISO_CLASSIFY_USER_ROWS)
		n = ISO_CLASSIFY_USER_ROWS;
	while (n-- > 0) {
		const struct user_row *r = &user_rows[n];
		/* Acquire: pairs with the release in iso_classify_add_message,
		 * so the row's text and type are complete when seen ready. */
		if (atomic_load_explicit(&r->ready, memory_order_acquire) &&
		    contains_nocase(exchange_error, r->substr))
			return (int)r->type;
	}
	for (size_t i = 0; i < sizeof(builtin_msgs) / sizeof(builtin_msgs[0]);
	     i++)
		if (contains_nocase(exchange_error, builtin_msgs[i].substr))
			return (int)builtin_msgs[i].type;
	/* The exchange answered with an error we have no row for. */
	return ISO_FAIL_API;
}

int iso_classify_add_message(const char *substr, enum iso_failure_type type)
{
	size_t len;
	unsigned idx;

	if (!substr)
		return iso_fail(ISO_EINVAL, "message pattern: NULL");
	len = strlen(substr);
	if (len == 0 || len > ISO_CLASSIFY_MSG_MAX)
		return iso_fail(ISO_EINVAL,
				"message pattern '%.*s%s': length %zu, must "
				"be 1..%d bytes", 40, substr,
				len > 40 ? "..." : "", len,
				ISO_CLASSIFY_MSG_MAX);
	if ((unsigned)type >= ISO_FAIL__COUNT)
		return iso_fail(ISO_EINVAL,
				"message pattern '%s': failure type %d out of "
				"range 0..%d", substr, (int)type,
				ISO_FAIL__COUNT - 1);
	/* Checked first so that a caller retrying on a full table cannot
	 * wrap the counter. Relaxed: the claim only has to be unique; the
	 * row is published by its ready flag below. */
	if (atomic_load_explicit(&user_claimed, memory_order_relaxed) >=
	    ISO_CLASSIFY_USER_ROWS)
		idx = ISO_CLASSIFY_USER_ROWS;
	else
		idx = atomic_fetch_add_explicit(&user_claimed, 1,
						memory_order_relaxed);
	if (idx >= ISO_CLASSIFY_USER_ROWS)
		return iso_fail(ISO_EFULL,
				"message pattern '%s': the table holds %d "
				"rows and is full", substr,
				ISO_CLASSIFY_USER_ROWS);
	memcpy(user_rows[idx].substr, substr, len + 1);
	user_rows[idx].type = type;
	/* Release: publishes substr and type to readers that acquire it. */
	atomic_store_explicit(&user_rows[idx].ready, true,
			      memory_order_release);
	return 0;
}
